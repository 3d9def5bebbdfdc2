/* hack/fntrace.c: which functions of a static executable a command runs,
 * in the order they are first entered, across every process it forks or
 * clones (until each one execs something else). Used by hack/symbol-order.
 *
 *   fntrace FUNCS OUT -- COMMAND [ARGS...]
 *
 * FUNCS lists one function start address per line (hex, as nm prints it)
 * of COMMAND's executable, which must be static and not position-
 * independent (hack/build's berth) so that the addresses need no
 * relocation. fntrace puts a one-shot breakpoint (int3) on each entry;
 * the first process to enter a function reports it and gets the original
 * byte back. A fork copies the breakpoints still armed, so each process
 * reports what it enters itself. Writes the addresses entered, first
 * entry first, to OUT; COMMAND's own output goes where it would.
 * When COMMAND itself exits, the processes it leaves (a created
 * container's init, waiting for `start`) get every original byte back
 * and are let go.
 *
 * Why breakpoints and not a profiler: perf samples miss the many functions
 * a 2 ms run enters once, valgrind refuses clone with namespace flags, and
 * instrumented builds (-C instrument-coverage) lay the code out differently
 * from the build being ordered. One trap per function per process is cheap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long *addr;
static long *orig; /* the word at addr[i] before the breakpoint */
static int *seen;
static size_t n;
static pid_t live[4096]; /* the processes under trace */
static size_t nlive;

static void track(pid_t pid) {
  if (nlive < sizeof live / sizeof *live) live[nlive++] = pid;
}

static void untrack(pid_t pid) {
  for (size_t i = 0; i < nlive; i++)
    if (live[i] == pid) { live[i] = live[--nlive]; return; }
}

static int cmp(const void *a, const void *b) {
  unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
  return x < y ? -1 : x > y;
}

static long find(unsigned long a) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (addr[mid] < a) lo = mid + 1;
    else if (addr[mid] > a) hi = mid;
    else return (long)mid;
  }
  return -1;
}

static void arm(pid_t pid) {
  for (size_t i = 0; i < n; i++) {
    errno = 0;
    long w = ptrace(PTRACE_PEEKTEXT, pid, addr[i], 0);
    if (errno) { perror("fntrace: PTRACE_PEEKTEXT"); exit(1); }
    orig[i] = w;
  }
  /* Write after reading everything: functions closer than a word apart
   * would otherwise save each other's int3 as their original byte. */
  for (size_t i = 0; i < n; i++) {
    long w = ptrace(PTRACE_PEEKTEXT, pid, addr[i], 0);
    w = (w & ~0xffL) | 0xcc;
    if (ptrace(PTRACE_POKETEXT, pid, addr[i], w)) { perror("fntrace: PTRACE_POKETEXT"); exit(1); }
  }
}

/* Puts back function i's first byte in pid, keeping the bytes after it
 * as they are now (a neighbour's breakpoint may still be there). */
static void disarm(pid_t pid, size_t i) {
  long w = ptrace(PTRACE_PEEKTEXT, pid, addr[i], 0);
  w = (w & ~0xffL) | (orig[i] & 0xff);
  ptrace(PTRACE_POKETEXT, pid, addr[i], w);
}

/* Lets pid go with its code as it was: a breakpoint left armed would
 * kill it with SIGTRAP once untraced. */
static void release(pid_t pid) {
  for (size_t i = 0; i < n; i++) disarm(pid, i);
  ptrace(PTRACE_DETACH, pid, 0, 0);
  untrack(pid);
}

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--")) {
    fprintf(stderr, "usage: fntrace FUNCS OUT -- COMMAND [ARGS...]\n");
    return 2;
  }
  FILE *out = fopen(argv[2], "w");
  if (!out) { perror(argv[2]); return 1; }
  FILE *f = fopen(argv[1], "r");
  if (!f) { perror(argv[1]); return 1; }
  size_t cap = 1024;
  addr = malloc(cap * sizeof *addr);
  unsigned long a;
  while (fscanf(f, "%lx", &a) == 1) {
    if (n == cap) addr = realloc(addr, (cap *= 2) * sizeof *addr);
    addr[n++] = a;
  }
  qsort(addr, n, sizeof *addr, cmp);
  orig = calloc(n, sizeof *orig);
  seen = calloc(n, sizeof *seen);

  pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    execvp(argv[4], argv + 4);
    perror(argv[4]);
    _exit(127);
  }
  int st;
  if (waitpid(child, &st, 0) < 0 || !WIFSTOPPED(st)) { fprintf(stderr, "fntrace: no exec stop\n"); return 1; }
  ptrace(PTRACE_SETOPTIONS, child, 0,
         PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC);
  arm(child);
  track(child);
  ptrace(PTRACE_CONT, child, 0, 0);

  int status = 0, draining = 0;
  for (;;) {
    pid_t pid = waitpid(-1, &st, __WALL);
    if (pid < 0) break;
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      untrack(pid);
      if (pid == child) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        /* Stop what is left; each is released at its SIGSTOP below. */
        draining = 1;
        for (size_t i = 0; i < nlive; i++) kill(live[i], SIGSTOP);
      }
      continue;
    }
    if (!WIFSTOPPED(st)) continue;
    int sig = WSTOPSIG(st), event = st >> 16;
    if (event == PTRACE_EVENT_EXEC) {
      /* Another program now: nothing of ours left to trace in it. */
      ptrace(PTRACE_DETACH, pid, 0, 0);
      untrack(pid);
      continue;
    }
    if (event) {
      unsigned long newpid;
      if (event != PTRACE_EVENT_STOP && !ptrace(PTRACE_GETEVENTMSG, pid, 0, &newpid)) {
        track((pid_t)newpid);
        if (draining) kill((pid_t)newpid, SIGSTOP);
      }
      ptrace(PTRACE_CONT, pid, 0, 0);
      continue;
    }
    if (sig == SIGTRAP) {
      struct user_regs_struct r;
      ptrace(PTRACE_GETREGS, pid, 0, &r);
      long i = find(r.rip - 1);
      if (i >= 0) {
        if (!seen[i]) {
          seen[i] = 1;
          fprintf(out, "%lx\n", addr[i]);
        }
        disarm(pid, (size_t)i);
        r.rip -= 1;
        ptrace(PTRACE_SETREGS, pid, 0, &r);
        ptrace(PTRACE_CONT, pid, 0, 0);
        continue;
      }
      ptrace(PTRACE_CONT, pid, 0, 0);
      continue;
    }
    /* A new child's first stop, or a group stop: not a signal to deliver. */
    if (sig == SIGSTOP) {
      if (draining) release(pid);
      else ptrace(PTRACE_CONT, pid, 0, 0);
      continue;
    }
    ptrace(PTRACE_CONT, pid, 0, sig);
  }
  if (fclose(out)) { perror(argv[2]); return 1; }
  return status;
}
