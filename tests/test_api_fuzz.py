"""A bounded OpenAPI fuzzing run: schemathesis against the live app with an admin token, every operation.

Each operation gets its documented examples, the coverage phase's boundary values and a
few dozen generated requests; none may be answered with a server error. The number of
cases run is printed (and kept as the test's ``cases`` property).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES_PER_OPERATION = 20


def test_no_generated_request_gets_a_server_error(live_server, api_token, tmp_path, record_property, capsys):
    token = api_token("admin")["Authorization"].split()[1]
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    result = subprocess.run(
        [cli, "run", f"{live_server}/api/v1/openapi.json", "--url", live_server,
         "--header", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error", "--phases", "examples,coverage,fuzzing",
         "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "12", "--no-shrink", "--workers", "2",
         "--continue-on-failure", "--suppress-health-check", "all", "--warnings", "off",
         "--request-timeout", "60"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    operations = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    assert operations and cases, output[-5000:]
    record_property("cases", int(cases.group(1)))
    with capsys.disabled():
        print(f"\nschemathesis: {cases.group(1)} cases over {operations.group(1)} operations")
    assert result.returncode == 0, output[-15000:]
    assert int(operations.group(1)) >= 80
