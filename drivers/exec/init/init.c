/*
 * docker-init: the small PID 1 of `docker run --init`, bind-mounted at /sbin/docker-init.
 *
 *   docker-init [--] command [args...]
 *
 * A command running as PID 1 gets no default signal actions (SIGTERM does nothing unless it installs a
 * handler) and inherits every orphan, which nobody reaps. This init runs the command as its only child and
 * takes those two jobs: every catchable signal it receives goes to the command, every zombie is reaped, and
 * it exits with the command's status (128 + signal when the command was killed).
 *
 * Built static (the container has no libc of ours) by build.ts and embedded in the bunker binary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Signals the kernel raises for a fault of the process itself: blocking them would hide a crash. */
static const int SYNCHRONOUS_SIGNALS[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS };

static void run_command(char **argv, const sigset_t *original_mask, const struct sigaction *ttin, const struct sigaction *ttou) {
  int err;
  /* Its own process group, so a terminal's job control (Ctrl-C, Ctrl-Z) reaches the command's group. */
  if (setpgid(0, 0) < 0) perror("docker-init: setpgid");
  /* SIGTTOU is still blocked here, so taking the terminal from the background does not stop us. */
  if (isatty(STDIN_FILENO) && tcsetpgrp(STDIN_FILENO, getpgrp()) < 0 && errno != ENOTTY && errno != ENXIO)
    perror("docker-init: tcsetpgrp");
  sigaction(SIGTTIN, ttin, NULL);
  sigaction(SIGTTOU, ttou, NULL);
  sigprocmask(SIG_SETMASK, original_mask, NULL);
  execvp(argv[0], argv);
  err = errno;
  fprintf(stderr, "docker-init: exec %s: %s\n", argv[0], strerror(err));
  _exit(err == ENOENT ? 127 : 126);
}

/* Exit status of the command as a shell reports it. */
static int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int main(int argc, char **argv) {
  sigset_t caught, original_mask;
  struct sigaction ignore, ttin, ttou;
  int first = 1;
  unsigned i;
  pid_t child;

  if (argc > 1 && strcmp(argv[1], "--") == 0) first = 2;
  if (first >= argc) {
    fprintf(stderr, "usage: docker-init [--] command [args...]\n");
    return 2;
  }

  sigfillset(&caught);
  for (i = 0; i < sizeof SYNCHRONOUS_SIGNALS / sizeof SYNCHRONOUS_SIGNALS[0]; i++) sigdelset(&caught, SYNCHRONOUS_SIGNALS[i]);
  /* Left to their default action: a terminal's background-read/write stops are for the command, not us. */
  sigdelset(&caught, SIGTTIN);
  sigdelset(&caught, SIGTTOU);
  if (sigprocmask(SIG_SETMASK, &caught, &original_mask) < 0) {
    perror("docker-init: sigprocmask");
    return 1;
  }
  /* When not PID 1 (--pid=host), orphans of the command still come to us. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGTTIN, &ignore, &ttin);
  sigaction(SIGTTOU, &ignore, &ttou);

  child = fork();
  if (child < 0) {
    perror("docker-init: fork");
    return 1;
  }
  if (child == 0) {
    /* Blocked during setup, then restored: the command starts with the signal state we were given. */
    sigset_t with_tty_stops = caught;
    sigaddset(&with_tty_stops, SIGTTOU);
    sigprocmask(SIG_SETMASK, &with_tty_stops, NULL);
    run_command(argv + first, &original_mask, &ttin, &ttou);
  }

  for (;;) {
    /* The timeout only bounds how long a missed SIGCHLD (signals of one kind coalesce) leaves a zombie. */
    struct timespec timeout = { 1, 0 };
    siginfo_t info;
    int sig = sigtimedwait(&caught, &info, &timeout), status;
    pid_t pid;
    if (sig < 0 && errno != EAGAIN && errno != EINTR) {
      perror("docker-init: sigtimedwait");
      return 1;
    }
    if (sig > 0 && sig != SIGCHLD && kill(child, sig) < 0 && errno != ESRCH) perror("docker-init: forwarding a signal");
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == child) return status_code(status);
    if (pid < 0 && errno == ECHILD) return 1; /* cannot happen while the command runs */
  }
}
