"""CPU used by a server process and its children, from /proc (shared by the IMAP benchmarks)."""
import os


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of_tree(root):
    """CPU of `root` and its children (Dovecot serves each session in a process of its own)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if int(pid) == root or ppid == root:
                total += cpu_seconds(int(pid))
        except (OSError, ValueError, IndexError):
            continue
    return total
