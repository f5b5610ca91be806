"""``rollsense run`` / ``record``: the device as a long-running service.

Config -> hardware (real or simulated, chosen explicitly) -> the parts ``wiring`` builds
(sampler, outputs, journal, link, CoachingLoop) -> ``Daemon``. Starts routines from the
button, a start command or ``--protocol``, and programmes from a start command with
``program`` or ``--program`` (``firmware.app.programme``); closes the session in the journal on SIGTERM; tells systemd READY / WATCHDOG (from the sampling loop itself) / STATUS.
"""

from __future__ import annotations

import contextlib
import math
import queue
import signal
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from calibration.store import load_calibration, metrics_overrides
from device.hardware import Hardware, open_hardware, pin_factory_for
from firmware.app.loop import CoachingLoop
from firmware.app.programme import plan_program
from firmware.app.wiring import (
    OutputPins,
    build_device,
    coaching_sampler,
    gyro_range_for,
    sim_calibration,
)
from firmware.common.clock import Clock, MonotonicClock, PacedClock
from firmware.common.errors import CommandError, ConfigError, SetupError
from firmware.common.hardware import BlockSource
from firmware.core.metrics import MetricsSettings
from firmware.core.programs import load_program
from firmware.core.protocols import Profile, list_routines, load_routine
from firmware.edge.config import (
    Config,
    apply_overrides,
    default_config_text,
    ensure_state_dir,
    load_config,
)
from firmware.edge.display import TerminalDisplay
from firmware.edge.link import undelivered, wait_delivered
from firmware.edge.notify import Notifier

# `run --once`: how long the routine's session may take to reach the dashboard before the
# daemon exits anyway (saying how many messages stay queued, and where).
DELIVERY_WAIT_S = 30.0


@dataclass
class SensorStack:
    """The sensors a command reads, opened from the config: clock, drivers, their sampler
    and, on simulated hardware, the simulated user (``source``)."""

    config: Config
    clock: Clock  # MonotonicClock for real hardware, PacedClock for simulated
    hardware: Hardware
    sampler: BlockSource
    source: object | None  # the simulated user, for hardware = "sim"


def load_with_overrides(args) -> Config:
    cfg = load_config(getattr(args, "config", None))
    values = {}
    if getattr(args, "sim", False):
        values["hardware"] = "sim"
    if getattr(args, "broker", None):
        values["broker_url"] = args.broker
    if getattr(args, "state_dir", None):
        values["state_dir"] = Path(args.state_dir)
    if getattr(args, "protocol", None):
        values["protocol"] = args.protocol
    cfg = apply_overrides(cfg, **values) if values else cfg
    if getattr(args, "speed", None):
        if cfg.hardware != "sim":
            raise ConfigError("--speed only applies to simulated hardware (add --sim)")
        cfg = replace(cfg, sim=replace(cfg.sim, speed=args.speed))
    return cfg


def open_runtime(cfg: Config, *, force_calibration=None, sim_user=None) -> SensorStack:
    """Open the hardware the config names. Simulated hardware is only ever used when the
    config (or --sim) says so: no silent fallback to fake data. The force calibration
    comes from the calibration file unless one is given (``RawForce`` for calibrating).
    ``sim_user``: the simulated user on simulated hardware (default: the routine's scenario)."""
    cal = _calibration(cfg)
    if force_calibration is None:
        force_calibration = cal.force if cal is not None and cal.force is not None else None

    source = None
    if cfg.hardware == "sim":
        clock = PacedClock(speed=cfg.sim.speed)
        from firmware.app.simulate import scenario  # only --sim needs the simulator (Pi start-up)
        source = sim_user or scenario(cfg.protocol, cfg.sim.scenario, cfg.sim.seed)
    else:
        clock = MonotonicClock()
    hw = open_hardware(
        cfg.hardware,
        clock=clock,
        source=source,
        i2c_bus=cfg.i2c.bus,
        imu_address=cfg.imu.address,
        force=cfg.force.frontend,
        sample_rate_hz=cfg.imu.sample_rate_hz,
        gyro_range_dps=cfg.imu.gyro_range_dps or _gyro_range(cfg, cal, source),
        accel_range_g=cfg.imu.accel_range_g,
        force_address=cfg.force.address,
        force_data_rate_sps=cfg.force.data_rate_sps,
        hx711_dout_pin=cfg.force.hx711_dout_pin,
        hx711_sck_pin=cfg.force.hx711_sck_pin,
        force_calibration=force_calibration,
        pin_factory=pin_factory_for(cfg.hardware),
    )
    return SensorStack(cfg, clock, hw, coaching_sampler(hw, clock), source)


def _gyro_range(cfg: Config, cal, source) -> int:
    """The gyro range for the tool of the configured routine (the simulated user's on
    simulated hardware) and its calibrated radius (else the routine's nominal one)."""
    if source is not None:
        return gyro_range_for(source.tool, source.radius_m)
    routine = load_routine(cfg.protocol, cfg.routines_dir)
    radius_m = cal.radius.radius_m if cal is not None and cal.radius is not None else routine.radius_m
    return gyro_range_for(routine.tool, radius_m)


def metrics_settings(cfg: Config, tool: str, source=None, *,
                     gyro_range_dps: float | None = None) -> MetricsSettings:
    """Metrics settings from the calibration file (if any) and, in simulation, the sim's
    mounting (as a calibration would have found it); ``gyro_range_dps`` the driver's
    configured full scale (the metrics rebuild samples clipped at it)."""
    values: dict = {"tool": tool, "radius_m": 0.075}
    if gyro_range_dps is not None:
        values["gyro_full_scale_rad_s"] = math.radians(gyro_range_dps)
    cal = _calibration(cfg)
    if cal is not None:
        values.update(metrics_overrides(cal))
    if source is not None:
        values.update(sim_calibration(source))
    return MetricsSettings(**values)


def _calibration(cfg: Config):
    """The calibration file's contents, or None when there is none yet (a bad file is an
    error: the device must not run on a calibration it cannot read)."""
    if not cfg.calibration_file.exists():
        return None
    return load_calibration(cfg.calibration_file)


SENSOR_RETRY_S = 10.0  # how often a device with a missing sensor tries again


class Daemon:
    """The service around the coaching loop (``rollsense run``): idle <-> running a routine,
    driven by the button (press: start, or the next routine of this tool while one runs, the
    programme's next step while a programme plays; hold: stop, a programme too; with two or
    more people at idle, press: the next person, hold: start), start commands and SIGTERM.
    ``program``: the programme the button starts at idle (``--program``) instead of the
    configured routine. A sensor that does not answer puts it in a clear degraded state (LED, STATUS,
    a fault event, one line on stderr) and it retries, instead of crash-looping."""

    def __init__(self, cfg: Config, rt: SensorStack, app: CoachingLoop, *, outputs=None, notifier=None,
                 display=None, journal=None, program: str | None = None) -> None:
        self.cfg, self.rt, self.app = cfg, rt, app
        self.program = program
        self.outputs, self.notifier, self.display, self.journal = outputs, notifier, display, journal
        self.starts: queue.Queue = app.commands
        tool = app.settings.tool
        self.playlist = [r.id for r in list_routines(cfg.routines_dir) if r.tool == tool]
        self.sensors_ok = False
        self.degraded = ""
        self._next_try_s = 0.0
        app.unavailable = self.unavailable
        if outputs is not None:
            outputs.on_press = self.press
            outputs.on_hold = self.hold

    def unavailable(self) -> str:
        """Why a routine cannot start now ("" when it can)."""
        if self.sensors_ok:
            return ""
        return self.degraded or "the sensors are not up yet"

    @property
    def running(self) -> bool:
        s = self.app.session
        return s is not None and not s.finished

    @property
    def busy(self) -> bool:
        """A routine runs, or a programme plays (a rest between its steps too)."""
        return self.running or self.app.playing is not None

    @property
    def choosing_people(self) -> bool:
        """At idle with two or more people, a press chooses who rolls and a hold starts."""
        return not self.busy and len(self.app.people) > 1

    def start_default(self) -> None:
        """Start what the button starts at idle: the ``--program`` programme (its first step
        for this tool), else the configured routine."""
        if self.program is None:
            self.starts.put(("start", self.cfg.protocol))
            return
        try:
            self.starts.put(("program", self.app.program_play(self.program)))
        except CommandError as e:  # not now (busy, sensors down): say so, stay up
            if self.display:
                self.display.message(str(e))

    def press(self) -> None:
        """Short press: start the configured routine (or programme), or move on to the next
        one (the programme's next step while one plays); at idle with two or more people, the
        next person (their number in beeps)."""
        playing = self.app.playing
        if playing is not None:
            playing.skip()
        elif self.choosing_people:
            self.app.cycle_person(self.rt.clock.now_s())
        elif self.running:
            current = self.app.session.routine.id
            ids = self.playlist or [current]
            nxt = ids[(ids.index(current) + 1) % len(ids)] if current in ids else ids[0]
            self.app.request_stop()
            self.starts.put(("start", nxt))
        else:
            self.start_default()

    def hold(self) -> None:
        """Long press: stop the running routine (and the programme it is a step of); at idle
        with two or more people, start the configured routine (or programme) for the current
        person."""
        if self.choosing_people:
            self.start_default()
        else:
            self.app.request_stop()

    def _bring_up_sensors(self) -> None:
        now = self.rt.clock.now_s()
        if self.sensors_ok or now < self._next_try_s:
            return
        try:
            self.rt.sampler.start()
        except SetupError as e:
            self._next_try_s = now + SENSOR_RETRY_S
            if str(e) != self.degraded:
                self.degraded = str(e)
                self._say_degraded()
            return
        self.sensors_ok = True
        if self.degraded:
            self.degraded = ""
            if self.display:
                self.display.message("sensors back: ready")
            if self.notifier:
                self.notifier.status("idle; sensors ok")

    def _say_degraded(self) -> None:
        line = f"degraded: {self.degraded} (retrying every {SENSOR_RETRY_S:g} s; run 'rollsense doctor')"
        if self.display:
            self.display.message(line)
        if self.notifier:
            self.notifier.status(line)
        if self.outputs is not None:
            self.outputs.perform("fault")
        if self.journal is not None:
            self.journal.record_event(None, {"event_type": "fault", "error": self.degraded})

    def serve(self, stop: threading.Event, *, once: bool = False) -> int:
        """Idle until a start request; keep the FIFO drained and the watchdog fed meanwhile."""
        while not stop.is_set():
            self._bring_up_sensors()
            try:
                # ("start", routine id[, tags]) or ("program", ProgramPlay)
                kind, what, *tags = self.starts.get_nowait()
            except queue.Empty:
                self._idle_tick()
                continue
            try:
                if kind == "program":
                    what.play(stop)
                elif kind == "start":
                    self.app.run_routine(what, stop, *tags)
                else:
                    continue
            except CommandError as e:  # unknown, another tool's, or not ready: say so, stay up
                if self.display:
                    self.display.message(str(e))
                continue
            if once:
                return 0
        return 0

    def _idle_tick(self) -> None:
        self.app.play_person_cue(self.rt.clock.now_s())
        if self.sensors_ok:
            self.rt.sampler.poll()
        healthy = self.sensors_ok and not getattr(self.rt.sampler, "health", "")
        if self.notifier and (healthy or not self.sensors_ok):
            # a missing sensor is a state we report and retry, not a hang to be restarted
            self.notifier.watchdog()
        self.rt.clock.sleep_s(self.app.poll_s)


def output_pins(cfg: Config) -> OutputPins:
    """The LED, buzzer and button pins of the config (gpiozero's mock pins on simulated
    hardware); opening them without GPIO is a SetupError (one line)."""
    return OutputPins(kind=cfg.hardware, led_pins=tuple(cfg.outputs.led_pins),
                      buzzer_pin=cfg.outputs.buzzer_pin, button_pin=cfg.outputs.button_pin)


def check_program(cfg: Config, program_id: str, tool: str, protocol: str | None) -> None:
    """``--program``: a programme (the routines dir's too) with steps for this device's tool,
    whose first step is ``--protocol`` if that is given; one line (ConfigError, CommandError)
    if not, before anything is opened."""
    plan_program(load_program(program_id, cfg.routines_dir), tool, {"protocol": protocol})


def build_daemon(cfg: Config, *, notifier=None, display=None, program: str | None = None,
                 protocol: str | None = None):
    """Everything ``rollsense run`` runs, opened from the config (nothing started yet):
    ``(daemon, link, journal, outputs)``. ``program``: the programme the button starts at
    idle (checked now against the tool and ``protocol``, the ``--protocol`` given with it)."""
    routine = load_routine(cfg.protocol, cfg.routines_dir)  # a bad id fails now, not at the button
    if program is not None:
        check_program(cfg, program, routine.tool, protocol)
    ensure_state_dir(cfg.state_dir)
    rt = open_runtime(cfg)
    if rt.source is not None:  # simulated: a new scripted user for every routine started
        from device.sim import SimTool  # only --sim needs the simulator (Pi start-up)
        from firmware.app.simulate import routine_user  # the same
        rt.source = SimTool(rt.source.tool, rt.source.radius_m, scenario_name=cfg.sim.scenario,
                            seed=cfg.sim.seed, user_for=routine_user)
        rt.hardware.fakes["tap"].source = rt.source  # both fake chips read through the tap
    built = build_device(
        device_id=cfg.device_id, hardware=rt.hardware, clock=rt.clock, sampler=rt.sampler,
        pins=output_pins(cfg),  # before the journal: no GPIO means nothing else is opened
        state_dir=cfg.state_dir, broker_url=cfg.broker_url,
        info={"hardware": cfg.hardware, "protocol": cfg.protocol, "tool": routine.tool,
              "routines": routine_list(cfg, routine.tool)},
        settings=metrics_settings(cfg, routine.tool, rt.source,
                                  gyro_range_dps=getattr(rt.hardware.imu, "gyro_range_dps", None)),
        display=display, notifier=notifier, routines_dir=cfg.routines_dir,
        telemetry_hz=cfg.telemetry_hz, sim_tool=rt.source,
        profile=Profile(body_mass_kg=cfg.profile.body_mass_kg),  # the default: nobody chosen
    )
    daemon = Daemon(cfg, rt, built.loop, outputs=built.outputs, notifier=notifier, display=display,
                    journal=built.journal, program=program)
    return daemon, built.link, built.journal, built.outputs


def routine_list(cfg: Config, tool: str) -> list[dict]:
    """The routines this device can start (its tool's; user routines from ``routines_dir``
    too), for its ``info``: the dashboard offers these."""
    return [{"id": r.id, "title": r.title, "mode": r.mode} for r in list_routines(cfg.routines_dir)
            if r.tool == tool]


class DeviceNotifier(Notifier):
    """sd_notify whose STATUS line also says, whatever the device is doing, that the broker
    is not reachable and why (the link's line), until it is back, and that the storage is
    full (the journal's problem), until there is space again."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.doing = "starting"
        self.broker_note = ""
        self.storage_note = ""

    def _line(self, doing: str) -> str:
        return "; ".join(x for x in (doing, self.broker_note, self.storage_note) if x)

    def ready(self, status: str | None = None) -> bool:
        self.doing = status or self.doing
        return super().ready(self._line(self.doing))

    def status(self, text: str) -> bool:
        self.doing = text
        return super().status(self._line(text))

    def broker(self, line: str, connected: bool) -> bool:
        """The link's line about the broker: kept in STATUS while it is not connected (or its
        link is not working: ``Link.health``)."""
        self.broker_note = "" if connected else line
        return super().status(self._line(self.doing))

    def storage(self, line: str) -> bool:
        """The storage's line (a full disk): kept in STATUS until it is writable ("")."""
        self.storage_note = line
        return super().status(self._line(self.doing))


def run_daemon(args, *, delivery_wait_s: float = DELIVERY_WAIT_S) -> int:
    """``rollsense run``. With ``--once`` it waits up to ``delivery_wait_s`` for the session to
    be delivered before it exits, and says what stays queued."""
    if getattr(args, "print_config", False):
        sys.stdout.write(default_config_text())
        return 0
    cfg = load_with_overrides(args)
    notifier = DeviceNotifier()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    display = TerminalDisplay(sys.stderr)
    program = getattr(args, "program", None)
    device, link, journal, outputs = build_daemon(cfg, notifier=notifier, display=display,
                                                  program=program,
                                                  protocol=getattr(args, "protocol", None))
    try:
        if journal.replaced is not None:  # said in one line by the journal; the dashboard hears too
            journal.record_event(None, {"event_type": "fault", "error": (
                f"journal was damaged: moved aside to {journal.replaced.name}, started a new one")})
        # on a full disk this is held (the journal said so in one line) and done when there is
        # space again; the device keeps running meanwhile
        recovered = journal.recover_interrupted()
        if recovered:
            display.message(f"recovered {len(recovered)} interrupted session(s); they will be delivered")
        link.on_state = lambda line: (display.message(line), notifier.broker(
            link.health() or line, link.connected and not link.health()))  # a link fault stays in STATUS
        link.start()
        device._bring_up_sensors()
        state = "idle" if device.sensors_ok else f"degraded: {device.degraded}"
        notifier.ready(f"{state}; {cfg.hardware} hardware; device {cfg.device_id}")
        if program is not None:  # the programme at once (this tool's steps)
            device.start_default()
        elif getattr(args, "protocol", None):
            device.starts.put(("start", cfg.protocol))
        once = getattr(args, "once", False)
        code = device.serve(stop, once=once)
        if once:
            display.message(delivery_report(journal, link, cfg.state_dir / "journal.db", delivery_wait_s))
        return code
    finally:
        notifier.stopping("stopping")
        for closer in (link.stop, journal.close, outputs.close, device.rt.hardware.close):
            with contextlib.suppress(Exception):
                closer()


def delivery_report(journal, link, journal_path: Path, wait_s: float) -> str:
    """Wait (bounded) for the outbox to empty; one line on what was delivered or stays queued."""
    if wait_delivered(journal, wait_s):
        return "all sessions delivered"
    n = undelivered(journal)
    until = (" until the dashboard acknowledges them" if link.connected
             else ", sent when the broker is back")
    held = journal.outbox_counts().get("held", 0)
    if held:  # a full disk: these never reached the journal file
        until += f"; {held} of them only in memory ({journal.storage}), not in the journal"
    return f"{n} message{'s' if n != 1 else ''} not yet delivered; kept in {journal_path}{until}"
