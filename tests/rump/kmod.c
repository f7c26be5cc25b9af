/*
 * The aio kernel module (aio.kmod, as scripts/build-kmod makes it) inside
 * a rump kernel: loaded, relocated, linked, initialised and unloaded by
 * NetBSD's own module loader (kern_module.c, subr_kobj.c and the amd64
 * kobj_machdep.c are part of librump).
 *
 * Built into the local client with -DKMOD (scripts/kmod-rump-test), which
 * links no AIO component at all: until the module is loaded every AIO
 * call answers ENOSYS.  Three ways to run it:
 *
 *   aio-kmod [case ...]      load $RUMP_TEST_KMOD by path, run the plan
 *   aio-kmod --lifecycle     the module's life cycle (below)
 *   aio-kmod --serve URL     load it and serve remote clients at URL
 *
 * The remote client (-DREMOTE) gets --kmod-hold, the process that holds
 * AIO state in the life cycle's unload checks.
 *
 * Why the client is linked as it is (-no-pie, static rump libraries,
 * --export-dynamic, --wrap=rumpuser_anonmmap): a module is compiled with
 * -mcmodel=kernel, which reaches kernel code and data through signed
 * 32-bit displacements, and the amd64 relocator stores them without a
 * range check.  The kernel's symbols must be in the low 2 GiB (a non-PIE
 * program with the rump kernel linked in) and exported for rump_init()'s
 * symbol table; the module's memory, asked of the hypervisor with an
 * address hint, must land there too (MAP_32BIT below).
 */
#if defined(KMOD) || defined(REMOTE)

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rump_aio.h"

#define NB_ENOSYS	78
#define NB_EBUSY	16
#define NB_ENOENT	2
#define NB_ERESTART	(-3)

#endif

#ifdef KMOD

#include <spawn.h>

extern char **environ;

/* ---- the hypervisor's memory, in the low 2 GiB ---- */

int __real_rumpuser_anonmmap(void *, size_t, int, int, void **);
int __wrap_rumpuser_anonmmap(void *, size_t, int, int, void **);

/*
 * The module loader asks for its segments with a hint below 2 GiB
 * (kobj's allocator in a rump kernel); Linux treats the hint as a hint
 * and places the mapping near the top of the address space, out of reach
 * of the module's 32-bit relocations.  MAP_32BIT keeps it low.  Requests
 * without a hint (the rump kernel's own memory) are left alone.
 */
int
__wrap_rumpuser_anonmmap(void *prefaddr, size_t size, int alignbit, int exec,
    void **memp)
{
	void *mem;
	int prot;

	if (prefaddr == NULL)
		return __real_rumpuser_anonmmap(prefaddr, size, alignbit, exec,
		    memp);
	prot = PROT_READ | PROT_WRITE | (exec ? PROT_EXEC : 0);
	mem = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
	    -1, 0);
	if (mem == MAP_FAILED)
		return errno;
	if (alignbit != 0 &&
	    ((uintptr_t)mem & (((uintptr_t)1 << alignbit) - 1)) != 0) {
		munmap(mem, size);
		return EINVAL;
	}
	*memp = mem;
	return 0;
}

/* ---- NetBSD's module and sysctl ABI (amd64, 7.99) ---- */

#define NB_MODCTL_LOAD		0
#define NB_MODCTL_UNLOAD	1
#define NB_MODCTL_STAT		2
#define NB_MODULE_CLASS_MISC	1
#define NB_MODULE_SOURCE_FILESYS 2
#define NB_MODFLG_AUTO_LOADED	0x02

struct nb_modctl_load {
	const char	*ml_filename;
	int		 ml_flags;
	const char	*ml_props;
	size_t		 ml_propslen;
};

struct nb_modstat {
	char		ms_name[32];
	char		ms_required[32 * 10];
	uint64_t	ms_addr;
	int		ms_source;
	int		ms_class;
	unsigned	ms_size;
	unsigned	ms_refcnt;
	unsigned	ms_flags;
	unsigned	ms_reserved[3];
};
_Static_assert(sizeof(struct nb_modstat) == 392, "modstat_t");

#define NB_CTL_KERN		1
#define NB_CTL_HW		6
#define NB_KERN_OSRELEASE	2
#define NB_HW_MACHINE		1
#define NB_CTL_QUERY		(-2)
#define NB_SYSCTL_VERSION	0x01000000

struct nb_sysctlnode {
	uint32_t	flags;
	int32_t		num;
	char		name[32];
	uint32_t	ver;
	uint32_t	rsvd;
	uint64_t	un[2];
	uint64_t	size, func, parent, desc;
};
_Static_assert(sizeof(struct nb_sysctlnode) == 96, "struct sysctlnode");

/* The module's sysctl nodes under kern. */
static const char *const kmod_nodes[] = {
	"posix_aio", "aio_max", "aio_listio_max", "aio_workers",
};
#define NNODES	(sizeof(kmod_nodes) / sizeof(kmod_nodes[0]))

/* The number of node name under mib[0..n-1], or -1 if there is none. */
static int
sysctl_child(const int *mib, unsigned n, const char *name)
{
	struct nb_sysctlnode q, nodes[512];
	int qmib[8];
	size_t len = sizeof(nodes), i;

	memcpy(qmib, mib, n * sizeof(int));
	qmib[n] = NB_CTL_QUERY;
	memset(&q, 0, sizeof(q));
	q.flags = NB_SYSCTL_VERSION;
	if (rump_sys___sysctl(qmib, n + 1, nodes, &len, &q, sizeof(q)) == -1)
		return -1;
	for (i = 0; i < len / sizeof(nodes[0]); i++)
		if (strncmp(nodes[i].name, name, sizeof(nodes[i].name)) == 0)
			return nodes[i].num;
	return -1;
}

/* The mib number of kern.<name>, or -1 if there is no such node. */
static int
kern_node(const char *name)
{
	const int kern = NB_CTL_KERN;

	return sysctl_child(&kern, 1, name);
}

/* Sets the boolean kern.module.<name>; 0 or an errno. */
static int
kern_module_set(const char *name, bool value)
{
	int mib[3] = { NB_CTL_KERN, -1, -1 };

	if ((mib[1] = kern_node("module")) == -1 ||
	    (mib[2] = sysctl_child(mib, 2, name)) == -1)
		return NB_ENOENT;
	return rump_sys___sysctl(mib, 3, NULL, NULL, &value,
	    sizeof(value)) == -1 ? errno : 0;
}

/* How many of the module's sysctl nodes exist. */
static unsigned
kmod_nodes_present(void)
{
	unsigned i, n = 0;

	for (i = 0; i < NNODES; i++)
		n += kern_node(kmod_nodes[i]) != -1;
	return n;
}

/* modstat of the module named "aio": 1 if listed, 0 if not, -1 on error. */
static int
kmod_stat(struct nb_modstat *out)
{
	static struct nb_modstat ms[256];
	struct iovec iov;
	size_t i;

	iov.iov_base = ms;
	iov.iov_len = sizeof(ms);
	if (rump_sys_modctl(NB_MODCTL_STAT, &iov) == -1)
		return -1;
	for (i = 0; i < iov.iov_len / sizeof(ms[0]) && i < 256; i++) {
		if (strcmp(ms[i].ms_name, "aio") == 0) {
			*out = ms[i];
			return 1;
		}
	}
	return 0;
}

static int
kmod_load_path(const char *path)
{
	struct nb_modctl_load ml;

	memset(&ml, 0, sizeof(ml));
	ml.ml_filename = path;
	ml.ml_flags = 0x2;	/* MODCTL_NO_PROP */
	return rump_sys_modctl(NB_MODCTL_LOAD, &ml) == -1 ? errno : 0;
}

static int
kmod_unload(void)
{

	return rump_sys_modctl(NB_MODCTL_UNLOAD, (void *)"aio") == -1 ?
	    errno : 0;
}

/*
 * What an AIO call answers in a process with no AIO state: aio_error of
 * an aiocb never submitted.  ENOSYS while no module serves the calls,
 * EINVAL from ours.  It creates no AIO state.
 */
static int
kmod_probe_call(void)
{
	struct aiocb cb;

	memset(&cb, 0, sizeof(cb));
	return rump_sys_aio_error(&cb) == -1 ? errno : 0;
}

/* The host file behind the rump path "/aio.kmod". */
static const char *
kmod_host_path(void)
{
	const char *p = getenv("RUMP_TEST_KMOD");

	if (p == NULL || *p == '\0') {
		printf("RUMP_TEST_KMOD is not set: the path of aio.kmod\n");
		return NULL;
	}
	return p;
}

#define KMOD_RUMP_PATH	"/aio.kmod"

static int
kmod_register(const char *key)
{
	const char *host = kmod_host_path();
	int rv;

	if (host == NULL)
		return -1;
	rv = rump_pub_etfs_register(key, host, RUMP_ETFS_REG);
	if (rv != 0) {
		printf("etfs_register %s -> %s: error %d\n", key, host, rv);
		return -1;
	}
	return 0;
}

/* Called by the harness's boot() once tmpfs is mounted. */
int
kmod_boot_load(void)
{
	struct nb_modstat ms;
	int e;

	if ((e = kmod_probe_call()) != NB_ENOSYS) {
		printf("before the module is loaded aio_error answers %d, "
		    "not ENOSYS: another AIO component is in this kernel\n", e);
		return -1;
	}
	if (kmod_register(KMOD_RUMP_PATH) != 0)
		return -1;
	if ((e = kmod_load_path(KMOD_RUMP_PATH)) != 0) {
		printf("modctl(MODCTL_LOAD, %s): errno %d\n", KMOD_RUMP_PATH,
		    e);
		return -1;
	}
	if (kmod_stat(&ms) != 1 || ms.ms_source != NB_MODULE_SOURCE_FILESYS) {
		printf("modstat does not list aio from the file system\n");
		return -1;
	}
	printf("aio.kmod loaded by modctl from %s at 0x%llx (%u bytes)\n",
	    kmod_host_path(), (unsigned long long)ms.ms_addr, ms.ms_size);
	return 0;
}

/* ---- the life cycle ---- */

static int lc_passed, lc_failed, lc_bad;

#define LC_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		lc_bad = 1;						\
		printf("    (%s) ", #cond);				\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

static void
lc_begin(void)
{

	lc_bad = 0;
}

static void
lc_end(const char *name, const char *what)
{

	if (lc_bad)
		lc_failed++;
	else
		lc_passed++;
	printf("%s  [K] %s: %s\n", lc_bad ? "FAIL" : "PASS", name, what);
}

/* A remote client that holds AIO state until told to go. */
struct holder {
	pid_t	pid;
	FILE	*out;	/* its stdout */
	int	in;	/* its stdin */
};

static int
holder_start(struct holder *h, const char *url)
{
	const char *bin = getenv("RUMP_TEST_REMOTE_CLIENT");
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)bin, (char *)"--kmod-hold", NULL };
	char env[512];
	char *envp[] = { env, NULL };
	int to[2], from[2];

	if (bin == NULL) {
		printf("    RUMP_TEST_REMOTE_CLIENT is not set\n");
		return -1;
	}
	snprintf(env, sizeof(env), "RUMP_SERVER=%s", url);
	if (pipe(to) != 0 || pipe(from) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, to[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from[1], 1);
	posix_spawn_file_actions_addclose(&fa, to[1]);
	posix_spawn_file_actions_addclose(&fa, from[0]);
	if (posix_spawn(&h->pid, bin, &fa, NULL, argv, envp) != 0) {
		printf("    cannot start %s\n", bin);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(to[0]);
	close(from[1]);
	h->in = to[1];
	h->out = fdopen(from[0], "r");
	return 0;
}

/* Waits (at most ms) for the kernel to answer want to an unload. */
static int
unload_within(int want, int ms)
{
	int e = -1, i;

	for (i = 0; i <= ms / 50; i++) {
		if ((e = kmod_unload()) == want)
			break;
		usleep(50 * 1000);
	}
	return e;
}

int
kmod_lifecycle(void)
{
	struct nb_modstat ms;
	struct holder h;
	char line[256], url[128], autop[256], rel[64], mach[64];
	int mib[2], e, st, loaded;
	size_t len;

	printf("aio.kmod life cycle in a rump kernel\n");

	lc_begin();
	LC_CHECK(kmod_probe_call() == NB_ENOSYS,
	    "aio_error answers %d before any load", kmod_probe_call());
	LC_CHECK(kmod_stat(&ms) == 0, "modstat lists aio before any load");
	LC_CHECK(kmod_nodes_present() == 0, "sysctl nodes before any load");
	lc_end("no_aio_before_load",
	    "no AIO component in this kernel: ENOSYS, no module, no nodes");

	lc_begin();
	loaded = kmod_register(KMOD_RUMP_PATH) == 0 &&
	    (e = kmod_load_path(KMOD_RUMP_PATH)) == 0;
	LC_CHECK(loaded, "modctl(MODCTL_LOAD, %s) failed", KMOD_RUMP_PATH);
	if (loaded) {
		LC_CHECK(kmod_stat(&ms) == 1, "modstat does not list aio");
		LC_CHECK(ms.ms_class == NB_MODULE_CLASS_MISC,
		    "class %d", ms.ms_class);
		LC_CHECK(ms.ms_source == NB_MODULE_SOURCE_FILESYS,
		    "source %d", ms.ms_source);
		LC_CHECK(ms.ms_addr != 0 && ms.ms_size > 0,
		    "address 0x%llx size %u",
		    (unsigned long long)ms.ms_addr, ms.ms_size);
		LC_CHECK(kmod_nodes_present() == NNODES,
		    "%u of %zu sysctl nodes", kmod_nodes_present(), NNODES);
		LC_CHECK((e = kmod_probe_call()) == NB_EINVAL,
		    "aio_error answers %d", e);
	}
	lc_end("load_by_path",
	    "MODCTL_LOAD by path: modstat aio MISC FILESYS, sysctl nodes, "
	    "calls served");
	if (!loaded)
		goto out;

	lc_begin();
	LC_CHECK((e = kmod_unload()) == 0, "unload: errno %d", e);
	LC_CHECK(kmod_stat(&ms) == 0, "modstat still lists aio");
	LC_CHECK(kmod_nodes_present() == 0, "%u sysctl nodes left",
	    kmod_nodes_present());
	LC_CHECK((e = kmod_probe_call()) == NB_ENOSYS,
	    "aio_error answers %d after unload", e);
	LC_CHECK((e = kmod_load_path(KMOD_RUMP_PATH)) == 0,
	    "load again: errno %d", e);
	LC_CHECK(kmod_stat(&ms) == 1 && kmod_nodes_present() == NNODES &&
	    kmod_probe_call() == NB_EINVAL, "not serving after the reload");
	lc_end("unload_idle_reload",
	    "unload with no AIO state: nodes gone, ENOSYS; load again works");

	/*
	 * A remote client's process holds AIO state (a write done, a read
	 * blocked on a pipe); while it lives the module refuses to go.  Once
	 * it leaves, the rump kernel marks its LWPs LW_RUMP_QEXIT, the
	 * module's workers leave, the process is freed and its exit hook
	 * frees the AIO state: then the module unloads.
	 */
	lc_begin();
	snprintf(url, sizeof(url), "unix:///tmp/aio-kmod-%d.sock",
	    (int)getpid());
	unlink(url + strlen("unix://"));
	if ((e = rump_init_server(url)) != 0) {
		LC_CHECK(0, "rump_init_server(%s): %d", url, e);
		lc_end("unload_busy_then_idle", "server");
		goto out;
	}
	if (holder_start(&h, url) != 0) {
		LC_CHECK(0, "could not start the remote holder");
		lc_end("unload_busy_then_idle", "holder");
		goto out;
	}
	if (fgets(line, sizeof(line), h.out) == NULL ||
	    strncmp(line, "holding", 7) != 0) {
		LC_CHECK(0, "holder said '%s'", line);
	} else {
		LC_CHECK((e = kmod_unload()) == NB_EBUSY,
		    "unload while a process has AIO state: errno %d", e);
		LC_CHECK(kmod_stat(&ms) == 1 && kmod_nodes_present() == NNODES,
		    "module or nodes gone after a refused unload");
		LC_CHECK((e = kmod_probe_call()) == NB_EINVAL,
		    "aio_error answers %d after a refused unload", e);
	}
	(void)write(h.in, "go\n", 3);
	while (fgets(line, sizeof(line), h.out) != NULL)
		printf("    holder: %s", line);
	if (waitpid(h.pid, &st, 0) != h.pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		LC_CHECK(0, "holder ended with status 0x%x", st);
	fclose(h.out);
	close(h.in);
	e = unload_within(0, 10000);
	LC_CHECK(e == 0, "unload 10 s after the holder left: errno %d "
	    "(its AIO state was not freed)", e);
	LC_CHECK(kmod_probe_call() == NB_ENOSYS && kmod_stat(&ms) == 0 &&
	    kmod_nodes_present() == 0, "still serving after the unload");
	lc_end("unload_busy_then_idle",
	    "EBUSY while a remote process has AIO state, the module still "
	    "serving; after it leaves its state is freed and unload works");

	/*
	 * Autoload: the first AIO call of a process finds no handler, the
	 * kernel looks the module up as <module_base>/aio/aio.kmod.  A rump
	 * kernel is built without MODULAR_DEFAULT_AUTOLOAD (GENERIC has it):
	 * autoloading is off until kern.module.autoload is set.
	 */
	lc_begin();
	LC_CHECK((e = kern_module_set("autoload", true)) == 0,
	    "sysctl kern.module.autoload=1: errno %d", e);
	mib[0] = NB_CTL_KERN;
	mib[1] = NB_KERN_OSRELEASE;
	len = sizeof(rel);
	memset(rel, 0, sizeof(rel));
	e = rump_sys___sysctl(mib, 2, rel, &len, NULL, 0);
	mib[0] = NB_CTL_HW;
	mib[1] = NB_HW_MACHINE;
	len = sizeof(mach);
	memset(mach, 0, sizeof(mach));
	e |= rump_sys___sysctl(mib, 2, mach, &len, NULL, 0);
	LC_CHECK(e == 0, "kern.osrelease / hw.machine: errno %d", errno);
	snprintf(autop, sizeof(autop), "/stand/%s/%s/modules/aio/aio.kmod",
	    mach, rel);
	LC_CHECK(kmod_register(autop) == 0, "etfs %s", autop);
	/*
	 * sys_nomodule() answers ERESTART once the module is in, for the
	 * trap handler to run the call again; a rump kernel's syscall path
	 * has no restart and hands ERESTART (-3) to the caller.  The next
	 * call is the module's.
	 */
	e = kmod_probe_call();
	LC_CHECK(e == NB_EINVAL || e == NB_ERESTART,
	    "first call after registering %s: %d", autop, e);
	if (e == NB_ERESTART)
		printf("    the autoloading call answered ERESTART "
		    "(rump: no restart)\n");
	LC_CHECK((e = kmod_probe_call()) == NB_EINVAL,
	    "second call: %d", e);
	LC_CHECK(kmod_stat(&ms) == 1 &&
	    ms.ms_source == NB_MODULE_SOURCE_FILESYS &&
	    (ms.ms_flags & NB_MODFLG_AUTO_LOADED) != 0,
	    "modstat: %s", ms.ms_name[0] ? "not autoloaded" : "no aio");
	lc_end("autoload", "the first AIO call autoloads the module from "
	    "the module path");

	/* State of this (local) process: unload refused, calls served. */
	lc_begin();
	{
		struct aiocb cb;
		char buf[512];
		int fd;

		fd = rump_sys_open("/tmp/kmod-life", RUMP_O_RDWR | RUMP_O_CREAT,
		    0644);
		LC_CHECK(fd >= 0, "open: errno %d", errno);
		memset(&cb, 0, sizeof(cb));
		memset(buf, 'k', sizeof(buf));
		cb.aio_fildes = fd;
		cb.aio_buf = buf;
		cb.aio_nbytes = sizeof(buf);
		LC_CHECK(rump_sys_aio_write(&cb) == 0, "aio_write: errno %d",
		    errno);
		for (e = 0; e < 1000 &&
		    rump_sys_aio_error(&cb) == NB_EINPROGRESS; e++)
			usleep(1000);
		LC_CHECK(rump_sys_aio_error(&cb) == 0 &&
		    rump_sys_aio_return(&cb) == (ssize_t)sizeof(buf),
		    "write did not complete");
		LC_CHECK((e = kmod_unload()) == NB_EBUSY,
		    "unload with local AIO state: errno %d", e);
		LC_CHECK(kmod_probe_call() == NB_EINVAL,
		    "not serving after a refused unload");
	}
	lc_end("unload_busy_local", "EBUSY while this process has AIO "
	    "state (local processes keep theirs until the kernel halts)");

out:
	printf("%d passed, %d failed\n", lc_passed, lc_failed);
	return lc_failed ? 1 : 0;
}

/* Serves remote clients at url with the module loaded, until killed. */
int
kmod_serve(const char *url)
{
	int e;

	if ((e = rump_init_server(url)) != 0) {
		printf("rump_init_server(%s): %d\n", url, e);
		return 1;
	}
	printf("serving %s\n", url);
	for (;;)
		pause();
}

#endif /* KMOD */

#ifdef REMOTE
/*
 * --kmod-hold: the remote process of the life cycle.  Gets AIO state (a
 * write completed, a read left blocked on an empty pipe), says so, waits
 * for a line on stdin and leaves with the read still in flight.
 */
int
kmod_hold(void)
{
	static struct aiocb wcb, rcb;
	static char wbuf[4096], rbuf[16];
	char line[16];
	int fd, p[2], i;

	fd = rump_sys_open("/tmp/kmod-hold", RUMP_O_RDWR | RUMP_O_CREAT, 0644);
	if (fd < 0 || rump_sys_pipe(p) != 0) {
		printf("setup: errno %d\n", errno);
		return 1;
	}
	wcb.aio_fildes = fd;
	wcb.aio_buf = wbuf;
	wcb.aio_nbytes = sizeof(wbuf);
	if (rump_sys_aio_write(&wcb) != 0) {
		printf("aio_write: errno %d\n", errno);
		return 1;
	}
	for (i = 0; i < 5000 && rump_sys_aio_error(&wcb) == NB_EINPROGRESS;
	    i++)
		usleep(1000);
	if (rump_sys_aio_error(&wcb) != 0 ||
	    rump_sys_aio_return(&wcb) != (ssize_t)sizeof(wbuf)) {
		printf("aio_write did not complete\n");
		return 1;
	}
	rcb.aio_fildes = p[0];
	rcb.aio_buf = rbuf;
	rcb.aio_nbytes = sizeof(rbuf);
	if (rump_sys_aio_read(&rcb) != 0) {
		printf("aio_read: errno %d\n", errno);
		return 1;
	}
	printf("holding\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	printf("leaving with the read %s\n",
	    rump_sys_aio_error(&rcb) == NB_EINPROGRESS ? "in flight" :
	    "done (unexpected)");
	return 0;
}
#endif /* REMOTE */
