"""What the IMAP benchmark scripts share: the CPU a server and its children use (from /proc),
waiting until a server is idle, and the arguments every script takes."""
import argparse
import os
import sys
import time


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


def wait_idle(root, quiet_s=0.02, most_s=120):
    """Waits until `root` and its children used at most `quiet_s` seconds of CPU in a
    second (Dovecot indexes in child processes, Tern in threads), or `most_s` seconds."""
    for _ in range(most_s):
        before = cpu_of_tree(root)
        time.sleep(1)
        if cpu_of_tree(root) - before <= quiet_s:
            return


def imap_parser(description):
    """host, port, user, password, server_pid, --runs, --label: what every script takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("server_pid", type=int)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--label", default="server")
    return ap


if __name__ == "__main__":
    # `benchlib.py wait-idle PID`: for the shell scripts.
    if len(sys.argv) == 3 and sys.argv[1] == "wait-idle":
        wait_idle(int(sys.argv[2]))
    else:
        sys.exit("usage: benchlib.py wait-idle PID")
