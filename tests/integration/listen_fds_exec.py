"""Plays systemd's part in socket activation (sd_listen_fds(3)) for test_systemd: moves the descriptors it
is given to 3, 4, ... and execs the program with LISTEN_PID (this process's pid, which exec keeps),
LISTEN_FDS and LISTEN_FDNAMES set. An argv vector throughout, no shell.

usage: python3 listen_fds_exec.py FD[,FD...] NAME[:NAME...] PROGRAM [ARG...]
"""
import fcntl
import os
import sys


def main():
    fds = [int(fd) for fd in sys.argv[1].split(",")]
    names = sys.argv[2]
    program = sys.argv[3:]
    # Out of the way first, so that moving one cannot overwrite another.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=True)
        os.close(fd)
    env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=names)
    os.execve(program[0], program, env)


if __name__ == "__main__":
    main()
