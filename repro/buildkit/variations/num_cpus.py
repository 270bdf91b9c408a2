"""num_cpus: RUN steps see one CPU: their CPU affinity (`nproc`, sched_getaffinity, Go's
runtime.NumCPU), /sys/devices/system/cpu/online (sysconf(_SC_NPROCESSORS_ONLN),
Python's os.cpu_count) and /proc/cpuinfo all say one CPU. Parallel builds (`make -j$(nproc)`)
then link, sort or number things in another order.
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation


class NumCpus(RuntimeVariation):
    name = "num_cpus"
    reprotest = "num_cpus"
    changes = "RUN steps see one CPU (affinity, /sys/devices/system/cpu/online, /proc/cpuinfo)"
    default = True

    def unavailable(self, host: Host) -> str | None:
        return "this machine has only one CPU" if len(host.cpus) < 2 else None

    def value(self, index: int) -> str:
        return "1 CPU"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        cpu = host.cpus[-1]  # not CPU 0, which usually takes the interrupts
        return [{"op": "cpus", "cpus": [cpu],
                 "files": {"/sys/devices/system/cpu/online": files.write("cpu-online", f"{cpu}\n"),
                           "/proc/cpuinfo": files.write("cpuinfo", one_cpu(host.cpuinfo, cpu))}}]


def one_cpu(cpuinfo: str, cpu: int) -> str:
    """/proc/cpuinfo with only CPU `cpu`'s block, numbered 0 (as a one-CPU machine has it)."""
    blocks = [b for b in cpuinfo.strip().split("\n\n") if b.strip()]
    chosen = next((b for b in blocks if _processor(b) == cpu), blocks[0] if blocks else "processor\t: 0")
    lines = ["processor\t: 0" if ln.startswith("processor") else ln for ln in chosen.splitlines()]
    return "\n".join(lines) + "\n\n"


def _processor(block: str) -> int | None:
    for ln in block.splitlines():
        key, _, value = ln.partition(":")
        if key.strip() == "processor" and value.strip().isdigit():
            return int(value.strip())
    return None


VARIATION = NumCpus()
