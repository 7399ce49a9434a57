"""Run the command line as a real process many times, cheaply: a server process imports cnncalc
once, then forks a child for each request. The child gets its own standard input, output and
error (files), its arguments in ``sys.argv``, and runs the console script's entry point
(:func:`cnncalc._entry.main`) exactly as ``cnncalc ARGS`` would; its exit status, output and
error text are what a shell would see (an uncaught exception prints a traceback and exits 1, as
Python does). A child that runs longer than its time bound is killed.

Used by the fuzz tests (``test_fuzz_cli.py``): a fresh interpreter for each of a few hundred
inputs would take a minute; a fork takes milliseconds.

Protocol: one JSON object per line on the server's file descriptors given on its command line
(requests in, replies out): ``{"args": [...], "stdin": base64, "timeout": seconds}`` →
``{"code": int | null, "timed_out": bool, "stdout": base64, "stderr": base64, "seconds": s}``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ADDRESS_SPACE = 4 << 30     # a child may map at most this much (a safety net for the machine)


def _child(args: list[str], workdir: str) -> None:
    """In the forked child: become ``cnncalc ARGS`` and never return."""
    code = 1
    try:
        os.chdir(workdir)
        for fd, name, flags in ((0, "stdin", os.O_RDONLY),
                                (1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                (2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            new = os.open(name, flags, 0o600)
            os.dup2(new, fd)
            os.close(new)
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
        except (ImportError, ValueError, OSError):
            pass
        sys.argv = ["cnncalc", *args]
        from cnncalc._entry import main
        try:
            main()
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                sys.stderr.write(f"{e.code}\n")
                code = 1
        except BaseException:       # what Python itself does with an uncaught exception
            traceback.print_exc()
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    finally:
        os._exit(code)


def serve(requests: int, replies: int) -> None:
    import cnncalc.analysis  # noqa: F401  (imported once, before the forks)
    import cnncalc.cli  # noqa: F401
    import cnncalc.report  # noqa: F401
    import cnncalc.spec  # noqa: F401
    with os.fdopen(requests, "r", encoding="utf-8") as inp, \
            os.fdopen(replies, "w", encoding="utf-8") as out:
        for line in inp:
            req = json.loads(line)
            with tempfile.TemporaryDirectory(prefix="cnncalc-fuzz-") as d:
                Path(d, "stdin").write_bytes(base64.b64decode(req.get("stdin", "")))
                t0 = time.monotonic()
                pid = os.fork()
                if pid == 0:
                    _child(req["args"], d)
                timed_out, status = False, 0
                while True:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        break
                    if time.monotonic() - t0 > req.get("timeout", 10):
                        timed_out = True
                        os.kill(pid, 9)
                        _, status = os.waitpid(pid, 0)
                        break
                    time.sleep(0.002)
                reply = {"code": None if timed_out else os.waitstatus_to_exitcode(status),
                         "timed_out": timed_out, "seconds": time.monotonic() - t0,
                         "stdout": base64.b64encode(Path(d, "stdout").read_bytes()).decode(),
                         "stderr": base64.b64encode(Path(d, "stderr").read_bytes()).decode()}
            out.write(json.dumps(reply) + "\n")
            out.flush()


class ForkServer:
    """The client side: ``with ForkServer() as cli: code, out, err, secs = cli.run([...])``."""

    def __init__(self) -> None:
        req_r, self._req = os.pipe()
        self._rep, rep_w = os.pipe()
        env = {k: v for k, v in os.environ.items() if k != "CNNCALC_DEBUG"}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent)] + sys.path)
        self.proc = subprocess.Popen([sys.executable, __file__, str(req_r), str(rep_w)],
                                     pass_fds=(req_r, rep_w), stdin=subprocess.DEVNULL,
                                     env=env)
        os.close(req_r)
        os.close(rep_w)
        self._out = os.fdopen(self._req, "w", encoding="utf-8")
        self._in = os.fdopen(self._rep, "r", encoding="utf-8")

    def run(self, args: list[str], stdin: bytes = b"", timeout: float = 10
            ) -> tuple[int | None, str, str, float]:
        """Exit code (None: killed after ``timeout`` seconds), stdout, stderr, seconds."""
        self._out.write(json.dumps({"args": args, "timeout": timeout,
                                    "stdin": base64.b64encode(stdin).decode()}) + "\n")
        self._out.flush()
        line = self._in.readline()
        if not line:
            raise RuntimeError("the fork server died")
        rep = json.loads(line)
        return (rep["code"], base64.b64decode(rep["stdout"]).decode("utf-8", "replace"),
                base64.b64decode(rep["stderr"]).decode("utf-8", "replace"), rep["seconds"])

    def close(self) -> None:
        self._out.close()
        self._in.close()
        self.proc.wait(timeout=30)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
