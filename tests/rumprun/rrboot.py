#!/usr/bin/env python3
"""Boots rumprun images under qemu and reads their console (scripts/rumprun-test).

    rrboot.py atf IMAGE LOGDIR          run the ATF image to the end
    rrboot.py bench OURS NETBSD LOGDIR  the workload, both components

Every boot is `rumprun qemu -i` in a session of its own, ended when the
console says the rump kernel halts or when its time limit passes (qemu
does not exit when the guest halts).
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import time

QEMU_ARGS = "-nographic -vga none -no-reboot"


def boot(image, args, log, limit, mem=512):
    """Boots IMAGE with ARGS; returns (console text, how it ended)."""
    cmd = ["rumprun", "qemu", "-i", "-M", str(mem), "-g", QEMU_ARGS, image] + args
    with open(log, "wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + limit
        how = "time limit"
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if p.poll() is not None:
                how = "qemu exited %d" % p.returncode
                break
            with open(log, "rb") as f:
                text = f.read()
            if b"rump kernel halting" in text:
                how = "halted"
                time.sleep(0.2)
                break
            # The runner's watchdog gave up on a case; the unikernel
            # may not come down by itself after that.
            if b"ATFR HALT" in text:
                how = "watchdog"
                time.sleep(1)
                break
            # A trap or a panic stops the guest without halting it.
            m = re.search(rb"FATAL TRAP[^\n]*|panic:[^\n]*", text)
            if m:
                how = m.group(0).decode("utf-8", "replace").strip()
                time.sleep(0.5)
                break
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    with open(log, "rb") as f:
        return f.read().decode("utf-8", "replace"), how


def atf(image, logdir):
    verdicts = {}
    order = []
    after = None
    n = 0
    while True:
        n += 1
        log = os.path.join(logdir, "atf.boot%d.log" % n)
        args = ["--after", after] if after else []
        text, how = boot(image, args, log, limit=1800)
        last = None
        done = False
        for line in text.splitlines():
            m = re.match(r"ATFR BEGIN (\S+)", line)
            if m:
                last = m.group(1)
                continue
            m = re.match(r"ATFR RESULT (\S+) (passed|failed|skipped)(?:: (.*))?", line)
            if m:
                cid, v, why = m.group(1), m.group(2), m.group(3) or ""
                if cid not in verdicts:
                    order.append(cid)
                verdicts[cid] = (v, why)
                continue
            if line.startswith("ATFR DONE"):
                done = True
            if line.startswith("ATFR START"):
                print("rumprun-test: boot %d: %s" % (n, line[len("ATFR START "):]))
        if done:
            break
        if last is None or last == after:
            # No case began: the image itself is broken.
            tail = "\n".join(text.splitlines()[-15:])
            print("rumprun-test: boot %d ended (%s) before any case; console tail:\n%s"
                  % (n, how, tail))
            return 1
        if last not in verdicts:
            # The case stopped the unikernel (a fault, a panic, a hang
            # past the boot's limit): it fails, the next boot goes on.
            tail = " / ".join(l for l in text.splitlines()[-6:] if l.strip())
            order.append(last)
            verdicts[last] = ("failed", "the unikernel stopped (%s): %s" % (how, tail))
        after = last
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for cid in order:
        v, why = verdicts[cid]
        counts[v] += 1
        print("%-7s %s%s" % (v.upper(), cid, (": " + why) if why else ""))
    print("rumprun ATF: %d passed, %d failed, %d skipped (%d boots)"
          % (counts["passed"], counts["failed"], counts["skipped"], n))
    return 1 if counts["failed"] or counts["passed"] == 0 else 0


WORKLOADS = [("pread", 1), ("suspend", 1), ("suspend", 32), ("poll", 32), ("lio", 32)]


def bench(ours, netbsd, logdir, rounds, seconds, size_mib, markdown):
    images = {"NetBSD C": netbsd, "ours": ours}
    ops = {}
    cpu = {}
    failed = 0
    for r in range(rounds):
        # Alternate which component goes first.
        names = ["NetBSD C", "ours"] if r % 2 == 0 else ["ours", "NetBSD C"]
        for mode, depth in WORKLOADS:
            for name in names:
                log = os.path.join(logdir, "bench.%s.%s%d.r%d.log"
                                   % (name.replace(" ", "_"), mode, depth, r))
                args = ["-f", "/tmp/aio_workload.dat", "-s", "%dm" % size_mib,
                        "-m", mode, "-d", str(depth), "-t", str(seconds)]
                text, how = boot(images[name], args, log, limit=seconds * 10 + 60)
                m = re.search(r"ops_per_s=([0-9.]+)", text)
                bad = re.search(r"errors=([1-9]|\d\d)|torn=([1-9]|\d\d)", text)
                if not m or bad or "returned 0" not in text:
                    print("rumprun-test: FAILED: %s %s d=%d (%s), see %s"
                          % (name, mode, depth, how, log))
                    failed += 1
                    continue
                ops.setdefault((name, mode, depth), []).append(float(m.group(1)))
                c = re.search(r"cpu_us_per_op=([0-9.]+)", text)
                if c:
                    cpu.setdefault((name, mode, depth), []).append(float(c.group(1)))
    rows = []
    for mode, depth in WORKLOADS:
        c = ops.get(("NetBSD C", mode, depth))
        o = ops.get(("ours", mode, depth))
        if not c or not o:
            continue
        mc, mo = statistics.median(c), statistics.median(o)
        cc = cpu.get(("NetBSD C", mode, depth))
        co = cpu.get(("ours", mode, depth))
        rows.append((mode, depth, mc, mo, mo / mc,
                     statistics.median(cc) if cc else None,
                     statistics.median(co) if co else None))
    if markdown:
        print("| workload | NetBSD C ops/s | ours ops/s | ours/C |")
        print("|---|---:|---:|---:|")
        for mode, depth, mc, mo, ratio, _, _ in rows:
            print("| %s d=%d | %.0f | %.0f | %.2f |" % (mode, depth, mc, mo, ratio))
    else:
        print("%-12s %12s %12s %7s   (medians of %d rounds, %g s each, %d MiB file)"
              % ("workload", "NetBSD C", "ours", "ours/C", rounds, seconds, size_mib))
        for mode, depth, mc, mo, ratio, _, _ in rows:
            print("%-12s %12.0f %12.0f %7.2f" % ("%s d=%d" % (mode, depth), mc, mo, ratio))
    return 1 if failed or not rows else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "atf":
        return atf(sys.argv[2], sys.argv[3])
    if len(sys.argv) >= 5 and sys.argv[1] == "bench":
        rounds = int(os.environ.get("RR_ROUNDS", "3"))
        seconds = float(os.environ.get("RR_SECONDS", "2"))
        size = int(os.environ.get("RR_SIZE_MIB", "16"))
        md = os.environ.get("RR_MARKDOWN", "") == "1"
        return bench(sys.argv[2], sys.argv[3], sys.argv[4], rounds, seconds, size, md)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
