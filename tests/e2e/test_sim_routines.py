"""`rollsense run --sim` as a real process behind a real broker: routines started one after
another over MQTT (as the dashboard's Start button does) are each performed by a simulated
user and each give a real session, not a zero-length one."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.firmware.edge.test_link import Observer

SPEED = 40.0


def test_routines_started_one_after_another_over_mqtt_are_each_performed(fresh_broker, tmp_path):
    config = tmp_path / "rollsense.toml"
    config.write_text('device_id = "e2e-sim"\nhardware = "sim"\n')
    obs = Observer(fresh_broker.url, topics=("rollsense/e2e-sim/#",))
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware.app.cli", "run", "--config", str(config), "--speed", str(SPEED),
         "--state-dir", str(tmp_path / "state"), "--broker", fresh_broker.url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )

    def sessions() -> list[dict]:
        seen: dict[str, dict] = {}
        for m in obs.on("rollsense/e2e-sim/session"):
            s = json.loads(m.payload)
            seen.setdefault(s["session_id"], s)
        return list(seen.values())

    try:
        obs.wait_for(lambda ms: any(m.topic == "rollsense/e2e-sim/status" and m.payload == b"online"
                                    for m in ms), 30)
        for n, protocol in enumerate(("quads-roller", "thoracic-roller"), start=1):
            obs.publish("rollsense/e2e-sim/cmd/start", {"id": f"s{n}", "protocol": protocol})
            obs.wait_for(lambda ms, n=n: len(sessions()) >= n, 60)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        obs.close()
    results = [json.loads(m.payload) for m in obs.on("rollsense/e2e-sim/cmd/start/result")]
    assert [r["status"] for r in results] == ["ok", "ok"], results
    got = sessions()
    assert [s["protocol"] for s in got] == ["quads-roller", "thoracic-roller"]
    for s in got:
        assert s["duration_s"] > 50 and s["passes"] >= 15 and s["completed"], json.dumps(s)
    assert "Traceback" not in err
