"""``rollsense demo``: the whole product on one machine. A simulated user on simulated
chips, read by the real drivers, through metrics and coach, journal and link, a private
Mosquitto, into the dashboard at http://127.0.0.1:8080.

With ``--program ID`` the simulated tool plays the programme's steps for its tool end to end
(the tool of ``--protocol``, else of the programme's first step), a simulated user per step,
with the cues and rests between steps, and prints one summary table per step."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from dashboard.server import check_port, run_dashboard
from device.hardware import open_hardware
from device.sim import SimTool
from firmware.app.argtypes import check_sqlite_path
from firmware.app.loop import summary_text
from firmware.app.programme import ProgramPlay, plan_program, step_words
from firmware.app.simulate import routine_user, scenario
from firmware.app.wiring import OutputPins, build_device, sim_calibration
from firmware.common.clock import PacedClock
from firmware.common.errors import ConfigError, SetupError
from firmware.common.mqtt_url import parse_broker_url
from firmware.core.metrics import MetricsSettings
from firmware.core.programs import load_program
from firmware.core.protocols import load_routine
from firmware.edge.broker import PrivateBroker
from firmware.edge.config import ID_RE
from firmware.edge.display import TerminalDisplay
from firmware.edge.link import undelivered, wait_delivered  # noqa: F401 - demo's names for them

FAST_SPEED = 20.0
ONE_ROUTINE = "the demo runs one routine; run 'rollsense demo --protocol ID' for another"
ONE_PROGRAM = "the demo plays one programme; run 'rollsense demo --program ID' for another"
SEED_MAX = 2**32 - 1


@dataclass
class DemoOptions:
    protocol: str | None = None  # None: the programme's first step's, else DEFAULT_PROTOCOL
    program: str | None = None  # play this programme's steps for the protocol's tool
    scenario: str = "good"
    seed: int = 1
    fast: bool = False
    speed: float | None = None
    broker_url: str | None = None
    dashboard: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    db_url: str | None = None
    device_id: str = "demo-roller"
    state_dir: str | None = None
    delivery_timeout_s: float = 20.0
    json: bool = False  # the closing summary as JSON (DESIGN §3.2) instead of the table


DEFAULT_PROTOCOL = "quads-roller"


def check_options(opts: DemoOptions) -> DemoOptions:
    """Every option checked before anything starts (no broker, no dashboard, no temp dir):
    ConfigError or SetupError (a programme with nothing for the tool: CommandError), one line
    that says what to do. Returns the options with ``protocol`` filled in."""
    if opts.program is not None:
        program = load_program(opts.program)  # an unknown id lists the known ones
        protocol = opts.protocol or program.steps[0].routine
        plan_program(program, load_routine(protocol).tool, {"protocol": opts.protocol})
        opts = replace(opts, protocol=protocol)
    elif opts.protocol is None:
        opts = replace(opts, protocol=DEFAULT_PROTOCOL)
    load_routine(opts.protocol)  # an unknown id lists the known ones
    if not 0 <= opts.seed <= SEED_MAX:
        raise ConfigError(f"--seed {opts.seed}: give 0 to {SEED_MAX}")
    scenario(opts.protocol, opts.scenario, opts.seed)  # an unknown scenario lists the known ones
    if not ID_RE.fullmatch(opts.device_id):
        raise ConfigError(f"--device-id {opts.device_id!r}: use 1-64 characters of a-z, 0-9 and '-'")
    if opts.speed is not None and not 0 < opts.speed <= 1000:
        raise ConfigError(f"--speed {opts.speed:g}: give a number above 0, at most 1000")
    if opts.broker_url is not None:
        parse_broker_url(opts.broker_url)
    if opts.dashboard:
        if not 1 <= opts.port <= 65535:
            raise ConfigError(f"--port {opts.port}: give 1 to 65535")
        if opts.db_url is not None:
            check_sqlite_path(opts.db_url)
        check_port(opts.host, opts.port)  # in use: one line now, not after the broker started
    return opts


def build_demo_device(opts: DemoOptions, broker_url: str, state_dir: Path, *, display=None,
                      pin_factory=None):
    """The simulated device: sim user -> fake chips -> real drivers -> the parts ``wiring``
    builds. Returns ``(loop, hardware, sampler, outputs, journal, link)``."""
    speed = opts.speed or (FAST_SPEED if opts.fast else 1.0)
    clock = PacedClock(speed=speed)
    routine = load_routine(opts.protocol)
    user = scenario(opts.protocol, opts.scenario, opts.seed)
    sim_tool = None
    if opts.program is not None:  # a simulated user per step, on one simulated tool
        user = sim_tool = SimTool(user.tool, user.radius_m, scenario_name=opts.scenario,
                                  seed=opts.seed, user_for=routine_user)
    built = build_device(
        device_id=opts.device_id, hardware=open_hardware("sim", clock=clock, source=user),
        clock=clock, pins=OutputPins(kind="sim", pin_factory=pin_factory), state_dir=state_dir,
        broker_url=broker_url,
        info={"hardware": "sim", "scenario": opts.scenario, "speed": speed, "tool": routine.tool},
        settings=MetricsSettings(tool=routine.tool, **sim_calibration(user)),
        display=display, source_end_s=None if sim_tool else user.end_s + 5.0, sim_tool=sim_tool,
    )
    loop = built.loop
    # its simulated user performs one routine (or programme): a start from the dashboard after
    # it is refused with the reason (it was accepted, and nothing ran)
    if sim_tool is None:
        loop.unavailable = lambda: ONE_ROUTINE if loop.session is not None else ""
    else:
        loop.unavailable = lambda: (ONE_PROGRAM if loop.playing is None and loop.session is not None
                                    else "")
    return loop, built.hardware, built.sampler, built.outputs, built.journal, built.link


def write_summaries(out, summaries: list[dict], steps: list, *, as_json: bool,
                    program: bool) -> None:
    """The closing summaries: a table per session (a programme's each under a line naming its
    step), or JSON: the summary, or a programme's list of them."""
    if as_json:
        body = summaries if program else summaries[0]
        out.write(json.dumps(body, indent=2, allow_nan=False) + "\n")
    for i, summary in enumerate([] if as_json else summaries):
        if program:
            out.write(("\n" if i else "") + f"step {steps[i].index}: {step_words(steps[i])}\n")
        text = summary_text(summary)
        out.write(text + "\n")
        if "session_id" not in text:  # scripts look for it (and it finds the session)
            out.write(f"session_id {summary['session_id']}\n")
    out.flush()


class DashboardThread:
    """The dashboard server in a thread of this process, stoppable from the main thread."""

    def __init__(self, broker_url: str, db_url: str, host: str, port: int, trust_device: str | None):
        self.stop_event = threading.Event()
        self.ready_event = threading.Event()
        self.error: BaseException | None = None
        self.args = (broker_url, db_url, host, port, trust_device)
        self.thread = threading.Thread(target=self._run, name="dashboard", daemon=True)

    def _run(self) -> None:
        broker_url, db_url, host, port, trust = self.args
        try:
            run_dashboard(broker_url, db_url, host, port, stop_event=self.stop_event,
                          ready_event=self.ready_event, trust_devices=[trust] if trust else ())
        except BaseException as e:  # reported to the main thread
            self.error = e
            self.ready_event.set()

    def start(self, timeout_s: float = 20.0) -> None:
        self.thread.start()
        if not self.ready_event.wait(timeout_s):
            raise SetupError(f"dashboard did not start within {timeout_s:.0f} s")
        if self.error is not None:
            raise SetupError(f"dashboard failed to start: {self.error}") from self.error

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


def run_demo(opts: DemoOptions, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    opts = check_options(opts)
    tmp = Path(tempfile.mkdtemp(prefix="rollsense-demo-"))
    state_dir = Path(opts.state_dir) if opts.state_dir else tmp / "device"
    state_dir.mkdir(parents=True, exist_ok=True)
    broker = None
    dash = None
    journal = link = hw = outputs = None
    stop = threading.Event()
    display = TerminalDisplay(err)
    try:
        broker_url = opts.broker_url
        if broker_url is None:
            broker = PrivateBroker(tmp / "broker").start()
            broker_url = broker.url
            display.message(f"private Mosquitto on {broker_url}")
        if opts.dashboard:
            db_url = opts.db_url or f"sqlite:///{tmp / 'dashboard.db'}"
            dash = DashboardThread(broker_url, db_url, opts.host, opts.port, opts.device_id)
            dash.start()
            display.message(f"dashboard on http://{opts.host}:{opts.port}/device/{opts.device_id}")
        app, hw, sampler, outputs, journal, link = build_demo_device(opts, broker_url, state_dir,
                                                                     display=display)
        link.on_state = display.message  # a broker it cannot reach is said at once, in one line
        link.start()
        sampler.start()
        speed = app.parts.clock.speed
        pace = f" at {speed:g}x speed" if speed != 1 else ""
        if opts.program is not None:
            play = ProgramPlay.for_start(app, {"program": opts.program})
            display.message(f"{opts.program}: steps {', '.join(map(str, play.step_indices))} on the "
                            f"{app.settings.tool}, simulated user '{opts.scenario}'{pace} - Ctrl-C stops")
            summaries = play.play(stop)
            steps = list(play.run.steps)
        else:
            display.message(f"{opts.protocol}: simulated user '{opts.scenario}'{pace} - Ctrl-C stops")
            summaries, steps = [app.run_routine(opts.protocol, stop)], []
        # the link said already when the broker cannot be reached: no point waiting for it then
        delivered = wait_delivered(journal, opts.delivery_timeout_s if link.connected else 0.0)
        what = "session" if len(summaries) == 1 else f"{len(summaries)} sessions"
        display.message(f"{what} delivered to the dashboard" if delivered else
                        f"{what} kept in the outbox: the dashboard has not acknowledged "
                        f"{'it' if len(summaries) == 1 else 'them'} yet")
        write_summaries(out, summaries, steps, as_json=opts.json,
                        program=opts.program is not None)
        if not opts.fast and dash is not None:
            display.message(f"{'programme' if opts.program else 'routine'} finished; the dashboard stays up at http://{opts.host}:{opts.port}"
                            " - Ctrl-C to quit")
            while not stop.wait(0.5):
                pass
        return 0 if delivered or not opts.dashboard else 1
    except KeyboardInterrupt:
        stop.set()
        display.message("stopping")
        return 130
    finally:
        left = 0  # outbox rows the dashboard has not acknowledged
        if link is not None:
            with contextlib.suppress(Exception):
                link.stop()
        if journal is not None:
            with contextlib.suppress(Exception):
                left = undelivered(journal)
        for closer in (
            getattr(journal, "close", None),
            getattr(outputs, "close", None),
            getattr(hw, "close", None),
            getattr(dash, "stop", None),
            getattr(broker, "close", None),
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer()
        if not opts.state_dir:
            clean_up(tmp, state_dir, left, display)


def clean_up(tmp: Path, state_dir: Path, undelivered_n: int, display) -> None:
    """Remove the demo's temporary files, except the device's state while its outbox holds
    something the dashboard has not acknowledged: that is kept, and the user told where."""
    if undelivered_n == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    for child in tmp.iterdir():
        if child != state_dir:
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
    display.message(f"{undelivered_n} outbox message(s) not delivered: kept in {state_dir / 'journal.db'} "
                    f"(delete {tmp} when you no longer need them)")
