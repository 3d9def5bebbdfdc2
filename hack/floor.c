/*
 * hack/floor.c: the physical floor of starting a container, for hack/bench.
 *
 *   floor ROOTFS [CGROUP-DIR...] -- PROGRAM [ARGS...]
 *
 * Only the kernel work a container of `berth spec`'s default config cannot
 * do without, in one process and its child:
 *
 *   - makes each CGROUP-DIR (a fresh directory in each hierarchy the
 *     runtimes use; in a v1 cpuset one, cpuset.cpus and cpuset.mems are
 *     copied from the parent, as the kernel demands before a task enters);
 *   - clone3 with the config's namespaces (mount, pid, ipc, uts, network;
 *     the cgroup namespace follows below) and, for a cgroup2 directory,
 *     CLONE_INTO_CGROUP, so the child is born there (plain clone, and a
 *     write to cgroup.procs, where clone3 is missing);
 *   - the child writes "0" to `tasks` of every v1 directory, through
 *     descriptors the parent opened: a task that moves only itself is
 *     moved without the kernel's threadgroup lock, whose writer waits an
 *     RCU grace period (5 to 15 ms here) when the parent writes the
 *     child's pid to cgroup.procs (berth does the same, cgroups/mod.rs);
 *   - the child: unshare(CLONE_NEWCGROUP) (now that it is in its cgroups,
 *     so they are its namespace's root), sethostname, / private
 *     (MS_REC|MS_PRIVATE), ROOTFS bound on itself, proc on ROOTFS/proc,
 *     pivot_root into ROOTFS, the old root detached, the root remounted
 *     read-only, execve PROGRAM with the config's environment;
 *   - the parent waits for the child and removes the directories.
 *
 * No capabilities, no seccomp, no /dev, no rlimits, no masked paths: none of
 * the work that makes a container safe, only what makes it one. Prints
 * nothing on success; exits with the program's status (128+N for a signal),
 * or 125 with a message on stderr if the floor itself fails.
 *
 * Built by hack/bench with `gcc -O2 -static`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define MAXDIRS 32

struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static char *const envp[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=xterm",
	NULL,
};

static void die(const char *what, const char *arg)
{
	int e = errno;
	if (arg)
		fprintf(stderr, "floor: %s %s: %s\n", what, arg, strerror(e));
	else
		fprintf(stderr, "floor: %s: %s\n", what, strerror(e));
	_exit(125);
}

/* write_file: the whole of S into PATH (an existing file). */
static int write_file(const char *path, const char *s, size_t n)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, s, n);
	int e = errno;
	close(fd);
	errno = e;
	return w == (ssize_t)n ? 0 : -1;
}

/* copy_up: DIR/NAME from DIR/../NAME (cpuset.cpus and .mems start empty). */
static void copy_up(const char *dir, const char *name)
{
	char src[PATH_MAX], dst[PATH_MAX], buf[4096];
	snprintf(src, sizeof src, "%s/../%s", dir, name);
	snprintf(dst, sizeof dst, "%s/%s", dir, name);
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open", src);
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		die("read", src);
	if (write_file(dst, buf, (size_t)n) < 0)
		die("write", dst);
}

/* rmdir_retry: a cgroup may stay busy for a moment after its last task is
 * reaped. */
static void rmdir_retry(const char *dir)
{
	for (int i = 0; i < 1000; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "floor: rmdir %s: %s\n", dir, strerror(errno));
}

/* join: descriptors of `tasks` (v1) or, where clone could not place the
 * child, cgroup.procs (v2); -1 for none. */
static void child(const char *rootfs, const int *join, int njoin, char **argv)
{
	char proc[PATH_MAX];

	for (int i = 0; i < njoin; i++)
		if (join[i] >= 0 && write(join[i], "0", 1) != 1)
			die("join a cgroup", NULL);
	if (unshare(CLONE_NEWCGROUP) < 0)
		die("unshare", "CLONE_NEWCGROUP");
	if (sethostname("berth", 5) < 0)
		die("sethostname", NULL);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private", NULL);
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		die("bind", rootfs);
	snprintf(proc, sizeof proc, "%s/proc", rootfs);
	if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mount proc on", proc);
	if (chdir(rootfs) < 0)
		die("chdir", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root", rootfs);
	if (umount2(".", MNT_DETACH) < 0)
		die("detach the old root", NULL);
	if (chdir("/") < 0)
		die("chdir", "/");
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		die("remount / read-only", NULL);
	execve(argv[0], argv, envp);
	die("execve", argv[0]);
}

int main(int argc, char **argv)
{
	const char *dirs[MAXDIRS];
	int ndirs = 0, v2 = -1, i, status;

	if (argc < 4)
		goto usage;
	const char *rootfs = argv[1];
	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (ndirs == MAXDIRS)
			goto usage;
		dirs[ndirs++] = argv[i];
	}
	if (i >= argc - 1)
		goto usage;
	char **prog = argv + i + 1;

	/* The cgroup directories: made, a cpuset one readied, the file the
	 * child joins it through opened; the cgroup2 one also opened for
	 * CLONE_INTO_CGROUP. */
	int v2fd = -1, join[MAXDIRS];
	for (i = 0; i < ndirs; i++) {
		char f[PATH_MAX];
		struct statfs sf;
		join[i] = -1;
		if (mkdir(dirs[i], 0755) < 0)
			die("mkdir", dirs[i]);
		if (statfs(dirs[i], &sf) < 0)
			die("statfs", dirs[i]);
		if (sf.f_type == CGROUP2_SUPER_MAGIC) {
			if (v2 < 0) {
				v2 = i;
				v2fd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (v2fd < 0)
					die("open", dirs[i]);
				snprintf(f, sizeof f, "%s/cgroup.procs", dirs[i]);
				if ((join[i] = open(f, O_WRONLY | O_CLOEXEC)) < 0)
					die("open", f);
			}
			continue;
		}
		snprintf(f, sizeof f, "%s/cpuset.cpus", dirs[i]);
		if (access(f, F_OK) == 0) {
			copy_up(dirs[i], "cpuset.cpus");
			copy_up(dirs[i], "cpuset.mems");
		}
		snprintf(f, sizeof f, "%s/tasks", dirs[i]);
		if ((join[i] = open(f, O_WRONLY | O_CLOEXEC)) < 0)
			die("open", f);
	}

	uint64_t ns = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
		      CLONE_NEWNET;
	struct clone_args_v2 ca = {0};
	ca.flags = ns | (v2fd >= 0 ? CLONE_INTO_CGROUP : 0);
	ca.exit_signal = SIGCHLD;
	ca.cgroup = v2fd >= 0 ? (uint64_t)v2fd : 0;
	int placed = v2fd >= 0;
	long pid = syscall(SYS_clone3, &ca, sizeof ca);
	if (pid < 0 && errno == ENOSYS) {
		placed = 0;
		pid = syscall(SYS_clone, (unsigned long)ns | SIGCHLD, 0, 0, 0, 0);
	}
	if (pid < 0)
		die("clone", NULL);
	if (pid == 0) {
		/* The child is a copy taken after `placed` was settled. */
		if (v2 >= 0 && placed) {
			close(join[v2]);
			join[v2] = -1;
		}
		child(rootfs, join, ndirs, prog);
	}
	if (v2fd >= 0)
		close(v2fd);
	for (i = 0; i < ndirs; i++)
		if (join[i] >= 0)
			close(join[i]);

	while (waitpid((pid_t)pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid", NULL);
	for (i = ndirs - 1; i >= 0; i--)
		rmdir_retry(dirs[i]);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);

usage:
	fprintf(stderr, "usage: floor ROOTFS [CGROUP-DIR...] -- PROGRAM [ARGS...]\n");
	return 2;
}
