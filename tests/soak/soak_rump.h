/*
 * aio_soak against an AIO component inside a local rump kernel: the
 * POSIX names of aio_soak.c mapped onto rump_sys_* calls, NetBSD's aiocb
 * (tests/rump/rump_aio.h) and NetBSD's numbers.  Included after every
 * system header, since it renames calls such as read and write.
 * No completion signals: a local rump kernel delivers none to its host.
 */
#ifndef SOAK_RUMP_H
#define SOAK_RUMP_H

#include "../rump/rump_aio.h"

#define aio_read	rump_sys_aio_read
#define aio_write	rump_sys_aio_write
#define aio_error	rump_sys_aio_error
#define aio_return	rump_sys_aio_return
#define aio_cancel	rump_sys_aio_cancel
#define aio_fsync	rump_sys_aio_fsync
#define aio_suspend	rump_sys_aio_suspend
/* rump_syscalls.h declares it with NetBSD's struct sigevent. */
#define lio_listio(m, l, n, s) \
	rump_sys_lio_listio((m), (l), (n), (void *)(s))
#define sigevent	nb_sigevent
#define pipe		rump_sys_pipe
#define read		rump_sys_read
#define write		rump_sys_write
#define open		rump_sys_open
#define close		rump_sys_close
#define unlink		rump_sys_unlink
#define ftruncate	rump_sys_ftruncate
#define fcntl		rump_sys_fcntl

#undef O_RDWR
#undef O_CREAT
#undef O_TRUNC
#undef O_NONBLOCK
#undef O_SYNC
#undef O_DSYNC
#undef F_SETFL
#define O_RDWR		RUMP_O_RDWR
#define O_CREAT		RUMP_O_CREAT
#define O_TRUNC		RUMP_O_TRUNC
#define O_NONBLOCK	RUMP_O_NONBLOCK
#define O_SYNC		NB_O_SYNC
#define O_DSYNC		NB_O_DSYNC
#define F_SETFL		4

#undef EINPROGRESS
#undef EAGAIN
#undef EINTR
#undef EIO
#undef ECANCELED
#define EINPROGRESS	NB_EINPROGRESS
#define EAGAIN		NB_EAGAIN
#define EINTR		4
#define EIO		NB_EIO
#define ECANCELED	NB_ECANCELED

#undef SIGEV_NONE
#undef SIGEV_SIGNAL
#define SIGEV_NONE	NB_SIGEV_NONE
#define SIGEV_SIGNAL	NB_SIGEV_SIGNAL
#define LIO_READ	NB_LIO_READ
#define LIO_WRITE	NB_LIO_WRITE
#define LIO_WAIT	NB_LIO_WAIT
#define LIO_NOWAIT	NB_LIO_NOWAIT
#define AIO_CANCELED	NB_AIO_CANCELED
#define AIO_NOTCANCELED	NB_AIO_NOTCANCELED
#define AIO_ALLDONE	NB_AIO_ALLDONE

#define SOAK_SIGNALS	0

/* A local rump kernel with tmpfs on /tmp, as tests/rump/harness.c. */
static int
soak_boot(void)
{
	struct nb_tmpfs_args ta;

	rump_boot_setsigmodel(RUMP_SIGMODEL_IGNORE);
	if (rump_init() != 0)
		return -1;
	if (rump_sys_mkdir("/tmp", 0777) != 0 && errno != 17)
		return -1;
	memset(&ta, 0, sizeof(ta));
	ta.ta_version = NB_TMPFS_ARGS_VERSION;
	ta.ta_root_mode = 0777;
	return rump_sys_mount("tmpfs", "/tmp", 0, &ta, sizeof(ta));
}

#endif
