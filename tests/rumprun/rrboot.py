#!/usr/bin/env python3
"""Boots rumprun images under qemu and reads their console (scripts/rumprun-test).

    rrboot.py atf IMAGE LOGDIR          every case of the ATF image
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
        # The serial console ends its lines with CR LF.
        return f.read().decode("utf-8", "replace").replace("\r", ""), how


def atf(image, logdir, markdown=""):
    """One boot per case, as kyua runs one process per case."""
    text, how = boot(image, ["--list"], os.path.join(logdir, "list.log"), limit=120)
    cases = re.findall(r"^ATFR CASE (\S+)", text, re.M)
    if not cases:
        print("rumprun-test: the image listed no cases (%s):\n%s"
              % (how, "\n".join(text.splitlines()[-15:])))
        return 1
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    starts = set()
    failed, skips = [], {}
    for cid in cases:
        log = os.path.join(logdir, cid.replace(":", ".") + ".log")
        # Cases time out after 30 s (H_TC_TIMEOUT) through the runner's
        # watchdog, which a program that never blocks keeps off the CPU.
        text, how = boot(image, ["--case", cid], log, limit=120)
        m = re.search(r"^ATFR START (.*)$", text, re.M)
        if m:
            starts.add(m.group(1).strip())
        m = re.search(r"^ATFR RESULT \S+ (passed|failed|skipped)(?:: (.*))?$", text, re.M)
        if m:
            v, why = m.group(1), (m.group(2) or "").strip()
        else:
            # The case stopped the unikernel (a fault, a panic, a hang
            # past the boot's limit).
            tail = " / ".join(l.strip() for l in text.splitlines()[-4:] if l.strip())
            v, why = "failed", "the unikernel stopped (%s): %s" % (how, tail)
        counts[v] += 1
        if v == "failed":
            failed.append((cid, why))
        elif v == "skipped":
            skips.setdefault(why, []).append(cid)
        print("%-7s %s%s" % (v.upper(), cid, (": " + why) if why else ""), flush=True)
    for s in sorted(starts):
        print("rumprun-test: boots said: %s" % s)
    print("rumprun ATF: %d passed, %d failed, %d skipped (%d cases, one boot each)"
          % (counts["passed"], counts["failed"], counts["skipped"], len(cases)))
    if markdown:
        with open(markdown, "a") as f:
            print("\ntests/atf in rumprun unikernels, one boot per case (%s): **%d passed, %d "
                  "failed, %d skipped** of %d.\n"
                  % ("; ".join(sorted(starts)), counts["passed"], counts["failed"],
                     counts["skipped"], len(cases)), file=f)
            if failed:
                print("| failed | why |\n|---|---|", file=f)
                for cid, why in failed:
                    print("| %s | %s |" % (cid, why.replace("|", "\\|").replace(
                        os.path.dirname(os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__)))) + "/", "")), file=f)
                print(file=f)
            if skips:
                print("| skipped | cases |\n|---|---:|", file=f)
                for why, ids in sorted(skips.items(), key=lambda kv: -len(kv[1])):
                    print("| %s | %d |" % (why.replace("|", "\\|"), len(ids)), file=f)
    return 1 if counts["failed"] or counts["passed"] == 0 else 0


WORKLOADS = [("pread", 1), ("suspend", 1), ("suspend", 32), ("poll", 32), ("lio", 32)]


def bench(ours, netbsd, logdir, rounds, ops_n, size_mib, markdown):
    """A fixed count of operations per run, not a time: rumprun never
    preempts, and a time-bounded loop that does not block (pread of cached
    data, -t 2) ran past 80 s there, probably because the rump kernel's
    clock is wound by a thread that then never runs; short runs keep the
    measured interval small."""
    images = {"NetBSD C": netbsd, "ours": ours}
    ops = {}
    failed = 0
    for r in range(rounds):
        # Alternate which component goes first.
        names = ["NetBSD C", "ours"] if r % 2 == 0 else ["ours", "NetBSD C"]
        for mode, depth in WORKLOADS:
            for name in names:
                log = os.path.join(logdir, "bench.%s.%s%d.r%d.log"
                                   % (name.replace(" ", "_"), mode, depth, r))
                args = ["-f", "/work/aio_workload.dat", "-s", str(size_mib * 1024 * 1024),
                        "-m", mode, "-d", str(depth), "-n", str(ops_n)]
                text, how = boot(images[name], args, log, limit=300)
                m = re.search(r"ops_per_s=([0-9.]+)", text)
                bad = re.search(r"errors=([1-9]|\d\d)|torn=([1-9]|\d\d)", text)
                if not m or bad or "returned 0" not in text:
                    print("rumprun-test: FAILED: %s %s d=%d (%s), see %s"
                          % (name, mode, depth, how, log))
                    failed += 1
                    continue
                ops.setdefault((name, mode, depth), []).append(float(m.group(1)))
    rows = []
    for mode, depth in WORKLOADS:
        c = ops.get(("NetBSD C", mode, depth))
        o = ops.get(("ours", mode, depth))
        if not c or not o:
            continue
        mc, mo = statistics.median(c), statistics.median(o)
        rows.append((mode, depth, mc, mo, mo / mc))
    print("%-12s %12s %12s %7s   (medians of %d rounds of %d operations, %d MiB file)"
          % ("workload", "NetBSD C", "ours", "ours/C", rounds, ops_n, size_mib))
    for mode, depth, mc, mo, ratio in rows:
        print("%-12s %12.0f %12.0f %7.2f" % ("%s d=%d" % (mode, depth), mc, mo, ratio))
    if markdown:
        with open(markdown, "a") as f:
            print("\nrumprun unikernel under qemu (TCG, one CPU), tmpfs, %d MiB file, 4 KiB random "
                  "reads; ops/s, medians of %d rounds of %d operations, one boot per run, the two "
                  "components alternating (CPU time is not reported: getrusage gives 0 there).\n"
                  % (size_mib, rounds, ops_n), file=f)
            print("| workload | NetBSD C ops/s | ours ops/s | ours/C |", file=f)
            print("|---|---:|---:|---:|", file=f)
            for mode, depth, mc, mo, ratio in rows:
                print("| %s d=%d | %.0f | %.0f | %.2f |" % (mode, depth, mc, mo, ratio), file=f)
    return 1 if failed or not rows else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "atf":
        return atf(sys.argv[2], sys.argv[3], os.environ.get("RR_MARKDOWN", ""))
    if len(sys.argv) >= 5 and sys.argv[1] == "bench":
        rounds = int(os.environ.get("RR_ROUNDS", "5"))
        ops_n = int(os.environ.get("RR_OPS", "20000"))
        size = int(os.environ.get("RR_SIZE_MIB", "16"))
        md = os.environ.get("RR_MARKDOWN", "")
        return bench(sys.argv[2], sys.argv[3], sys.argv[4], rounds, ops_n, size, md)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
