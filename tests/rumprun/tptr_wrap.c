/*
 * netbsd-aio: lets NetBSD's own C librumpvfs_aio run in a rumprun
 * unikernel, as the baseline of scripts/rumprun-test.
 *
 * A rump kernel's lwp_create() calls rumpuser_thread_create(..., NULL)
 * (sys/rump/librump/rumpkern/threads.c) and rumprun's bare-metal
 * hypervisor stores the new thread through that pointer
 * (lib/libbmk_rumpuser/rumpuser_synch.c, `*tptr = thr`), so the first
 * AIO worker of the C component faults the unikernel.  Linked with
 * -Wl,--wrap=rumpuser_thread_create (the bake configuration adds the flag
 * and this archive), a NULL pointer becomes a slot of our own.  The
 * netbsd-aio component does not need it: its rumprun build starts its
 * workers with kthread_create(), which passes a slot.
 */

#include <stddef.h>

int	__real_rumpuser_thread_create(void *(*)(void *), void *, const char *,
	    int, int, int, void **);
int	__wrap_rumpuser_thread_create(void *(*)(void *), void *, const char *,
	    int, int, int, void **);

int
__wrap_rumpuser_thread_create(void *(*f)(void *), void *arg,
    const char *name, int joinable, int pri, int cpuidx, void **tptr)
{
	void *unused;

	return __real_rumpuser_thread_create(f, arg, name, joinable, pri,
	    cpuidx, tptr != NULL ? tptr : &unused);
}
