/*
 * netbsd-aio: a larger tmpfs for the rumprun test images.
 *
 * rumprun mounts a tmpfs of 1 MiB on /tmp (ta_size_max in
 * lib/librumprun_base/rumprun.c), too small for the tests' files and
 * the workload's; the images mount one of RR_TMPFS_MIB on /work first.
 * With RR_MAIN defined this file also gives the program a main that does
 * so and then calls RR_MAIN (the workload's main, renamed at build).
 */

#include <sys/param.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <fs/tmpfs/tmpfs_args.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define	RR_TMPFS_MIB	256

int	rr_tmpfs_mount(void);

int
rr_tmpfs_mount(void)
{
	struct tmpfs_args ta;

	memset(&ta, 0, sizeof(ta));
	ta.ta_version = TMPFS_ARGS_VERSION;
	ta.ta_size_max = (off_t)RR_TMPFS_MIB * 1024 * 1024;
	ta.ta_root_mode = 01777;
	if (mkdir("/work", 0777) == -1 && errno != EEXIST)
		return -1;
	return mount(MOUNT_TMPFS, "/work", 0, &ta, sizeof(ta));
}

#ifdef RR_MAIN
int	RR_MAIN(int, char **);

int
main(int argc, char **argv)
{

	if (rr_tmpfs_mount() == -1) {
		printf("rr_tmpfs: cannot mount a tmpfs on /work: %s\n",
		    strerror(errno));
		return 1;
	}
	return RR_MAIN(argc, argv);
}
#endif
