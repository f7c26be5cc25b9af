/*
 * netbsd-aio: declarations of the NetBSD/amd64 kernel interfaces the
 * component's Rust code binds to, for builds without a NetBSD source tree.
 *
 * Written for this project from the documented ABI (see
 * shared notes: aiocb layout, syscall numbers, modinfo_t); they declare
 * only what src/sys uses.  When NETBSDSRCDIR is set the real headers are
 * used instead and src/sys/mod.rs checks that both agree.
 */
#ifndef _NETBSD_AIO_KERNEL_H_
#define _NETBSD_AIO_KERNEL_H_

typedef signed char		int8_t;
typedef unsigned short		uint16_t;
typedef int			int32_t;
typedef unsigned int		uint32_t;
typedef long			int64_t;
typedef unsigned long		uint64_t;
typedef unsigned long		size_t;
typedef long			ssize_t;
typedef long			register_t;
typedef int64_t			off_t;
typedef int64_t			time_t;
typedef unsigned short		u_short;

struct timespec {
	time_t	tv_sec;
	long	tv_nsec;
};

union sigval {
	int	sival_int;
	void	*sival_ptr;
};

struct sigevent {
	int		sigev_notify;
	int		sigev_signo;
	union sigval	sigev_value;
	void		(*sigev_notify_function)(union sigval);
	void		*sigev_notify_attributes;
};

struct aiocb {
	off_t		aio_offset;
	volatile void	*aio_buf;
	size_t		aio_nbytes;
	int		aio_fildes;
	int		aio_lio_opcode;
	int		aio_reqprio;
	struct sigevent	aio_sigevent;
	int		_state;
	int		_errno;
	ssize_t		_retval;
};

/* System call numbers of the aio calls. */
#define	SYS_aio_cancel		399
#define	SYS_aio_error		400
#define	SYS_aio_fsync		401
#define	SYS_aio_read		402
#define	SYS_aio_return		403
#define	SYS_aio_write		405
#define	SYS_lio_listio		406
#define	SYS___aio_suspend50	438

/*
 * Each system call argument occupies one register_t slot; on a
 * little-endian machine the value sits at its start.
 */
#define	AIOK_ARG(type, name)						\
	union {								\
		register_t pad;						\
		struct { type datum; } le;				\
	} name

struct sys_aio_cancel_args {
	AIOK_ARG(int, fildes);
	AIOK_ARG(struct aiocb *, aiocbp);
};
struct sys_aio_error_args {
	AIOK_ARG(const struct aiocb *, aiocbp);
};
struct sys_aio_fsync_args {
	AIOK_ARG(int, op);
	AIOK_ARG(struct aiocb *, aiocbp);
};
struct sys_aio_read_args {
	AIOK_ARG(struct aiocb *, aiocbp);
};
struct sys_aio_return_args {
	AIOK_ARG(struct aiocb *, aiocbp);
};
struct sys_aio_write_args {
	AIOK_ARG(struct aiocb *, aiocbp);
};
struct sys_lio_listio_args {
	AIOK_ARG(int, mode);
	AIOK_ARG(struct aiocb *const *, list);
	AIOK_ARG(int, nent);
	AIOK_ARG(struct sigevent *, sig);
};
struct sys___aio_suspend50_args {
	AIOK_ARG(const struct aiocb *const *, list);
	AIOK_ARG(int, nent);
	AIOK_ARG(const struct timespec *, timeout);
};

struct lwp;
typedef int sy_call_t(struct lwp *, const void *, register_t *);

struct syscall_package {
	u_short		sp_code;
	u_short		sp_flags;
	sy_call_t	*sp_call;
};

typedef enum modclass {
	MODULE_CLASS_ANY,
	MODULE_CLASS_MISC,
	MODULE_CLASS_VFS,
	MODULE_CLASS_DRIVER,
	MODULE_CLASS_EXEC,
	MODULE_CLASS_SECMODEL
} modclass_t;

typedef enum modcmd {
	MODULE_CMD_INIT,
	MODULE_CMD_FINI,
	MODULE_CMD_STAT,
	MODULE_CMD_AUTOUNLOAD
} modcmd_t;

typedef struct modinfo {
	uint32_t	mi_version;
	modclass_t	mi_class;
	int		(*mi_modcmd)(modcmd_t, void *);
	const char	*mi_name;
	const char	*mi_required;
} modinfo_t;

#endif /* !_NETBSD_AIO_KERNEL_H_ */
