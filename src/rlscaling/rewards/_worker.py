"""Worker subprocess for time-bounded math-verify checks (see rlscaling.rewards.equivalence).

Protocol: after start-up it prints `ready`; then for each JSON line `{"gt", "pred", "timeout_s"}` on
stdin it prints one JSON line `{"equal": true | false | null}` (null: timed out). It runs the check in
its own main thread under a SIGALRM interval timer; the parent kills it if even that does not answer
in time. It exits at end of input (the parent closed the pipe or died).
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from rlscaling.rewards import equivalence

    equivalence._mv()  # import sympy / math-verify before saying ready
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            gt, pred, timeout_s = str(req["gt"]), str(req["pred"]), float(req["timeout_s"])
            if hasattr(equivalence.signal, "setitimer"):
                equal = equivalence._in_process(gt, pred, timeout_s, check_health=False)
            else:  # pragma: no cover - no interval timers (Windows): the parent's kill is the bound
                equal = equivalence.math_verify_equal_unbounded(gt, pred)
        except Exception:  # noqa: BLE001 - a bad request is "not equal", never a dead worker
            equal = False
        out.write(json.dumps({"equal": equal}) + "\n")
        out.flush()
        # after a timeout, check the verdicts once the parent has its answer; if an interrupted check
        # damaged this process, exit (the parent starts a fresh worker)
        if equal is None and hasattr(equivalence.signal, "setitimer") and not equivalence.mark_health():
            return


if __name__ == "__main__":
    main()
