/* The sandbox ("pause") container of the CRI tests' pods (hack/image OUT
 * pause): containerd's CRI needs a sandbox image and no registry is
 * reachable. It holds the pod's namespaces open and does nothing else.
 * As PID 1 of a pod's PID namespace (shareProcessNamespace) it reaps the
 * orphans that land on it, and it must catch SIGTERM and SIGINT itself:
 * the kernel drops signals to a namespace's init that has no handler. */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction sa = {0};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = stop;
  if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
    return 1;
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGCHLD, &sa, NULL) < 0)
    return 1;
  for (;;)
    pause();
}
