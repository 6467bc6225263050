//go:build cgo

package privs

/*
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

// One thread's part of a drop: everything here is async-signal-safe (raw
// system calls, no allocation), since it runs in a signal handler on each
// thread, interrupting whatever Go code runs there.
struct sw_plan {
	uint64_t keep;
	int drop_bounding;
	int last_cap;
	int no_new_privs;
};

static struct sw_plan sw_the_plan;

#define SW_MAX_ACKS 8192
static volatile int sw_ack_tid[SW_MAX_ACKS];
static volatile int sw_ack_err[SW_MAX_ACKS];
static volatile int sw_nacks;
static struct sigaction sw_old_action;

static int sw_signo(void) { return SIGRTMIN + 7; }

static int sw_apply(const struct sw_plan *p) {
	int c;
	if (p->drop_bounding) {
		for (c = 0; c <= p->last_cap; c++) {
			if (p->keep & (1ULL << c)) continue;
			if (syscall(SYS_prctl, PR_CAPBSET_READ, c, 0, 0, 0) == 0) continue; // already gone (a repeated signal)
			if (syscall(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) return errno;
		}
	}
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];
	memset(&hdr, 0, sizeof hdr);
	memset(data, 0, sizeof data);
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)p->keep;
	data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(p->keep >> 32);
	if (syscall(SYS_capset, &hdr, data) != 0) return errno;
	if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return errno;
	for (c = 0; c < 64; c++) {
		if (!(p->keep & (1ULL << c))) continue;
		if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0) return errno;
	}
	if (p->no_new_privs && syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
	return 0;
}

static void sw_handler(int sig, siginfo_t *info, void *uc) {
	int saved = errno;
	int r = sw_apply(&sw_the_plan);
	int i = __atomic_fetch_add(&sw_nacks, 1, __ATOMIC_SEQ_CST);
	if (i < SW_MAX_ACKS) {
		sw_ack_err[i] = r;
		__atomic_store_n(&sw_ack_tid[i], (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	}
	errno = saved;
}

// sw_begin installs the handler (Go's own handler for this real-time signal,
// which ignores it unless os/signal asked for it, is saved and restored by
// sw_end).
static int sw_begin(uint64_t keep, int drop_bounding, int last_cap, int nnp) {
	struct sigaction sa;
	sw_the_plan.keep = keep;
	sw_the_plan.drop_bounding = drop_bounding;
	sw_the_plan.last_cap = last_cap;
	sw_the_plan.no_new_privs = nnp;
	memset((void *)sw_ack_tid, 0, sizeof sw_ack_tid);
	__atomic_store_n(&sw_nacks, 0, __ATOMIC_SEQ_CST);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sw_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (sigaction(sw_signo(), &sa, &sw_old_action) != 0) return errno;
	return 0;
}

static int sw_end(void) {
	if (sigaction(sw_signo(), &sw_old_action, NULL) != 0) return errno;
	return 0;
}

static int sw_signal(int tid) {
	if (syscall(SYS_tgkill, getpid(), tid, sw_signo()) != 0) return errno;
	return 0;
}

static int sw_nacks_now(void) {
	int n = __atomic_load_n(&sw_nacks, __ATOMIC_SEQ_CST);
	return n < SW_MAX_ACKS ? n : SW_MAX_ACKS;
}

// sw_ack returns the thread id of ack i (0 while it is being written) and its errno.
static int sw_ack(int i, int *err) {
	int tid = __atomic_load_n(&sw_ack_tid[i], __ATOMIC_SEQ_CST);
	*err = sw_ack_err[i];
	return tid;
}
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// broadcastMu serialises drops: the C side has one plan, one ack table and
// one signal disposition, which are process-wide by nature; this mutex is the
// package's only state and exists to guard them.
var broadcastMu sync.Mutex

// applyAllThreads signals every thread of the process, each of which applies
// the plan to itself in the signal handler, and waits until every thread
// listed in /proc/self/task has done so. Threads created meanwhile inherit
// the state of the thread that created them: a listing in which every thread
// has acknowledged means no thread is left with the old state.
func applyAllThreads(p plan) error {
	broadcastMu.Lock()
	defer broadcastMu.Unlock()
	nnp := 0
	if p.setNoNewPrivs {
		nnp = 1
	}
	drop := 0
	if p.dropBounding {
		drop = 1
	}
	if e := C.sw_begin(C.uint64_t(p.keep), C.int(drop), C.int(p.lastCap), C.int(nnp)); e != 0 {
		return fmt.Errorf("install signal handler: %w", syscall.Errno(e))
	}
	defer C.sw_end()

	acked := map[int]int{} // tid → errno
	sent := map[int]time.Time{}
	read := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		for n := int(C.sw_nacks_now()); read < n; read++ {
			var e C.int
			tid := int(C.sw_ack(C.int(read), &e))
			if tid == 0 { // being written: read again
				break
			}
			if prev, ok := acked[tid]; !ok || prev != 0 {
				acked[tid] = int(e)
			}
		}
		tids, err := taskIDs()
		if err != nil {
			return err
		}
		pending := 0
		for _, tid := range tids {
			if _, ok := acked[tid]; ok {
				continue
			}
			pending++
			if t, ok := sent[tid]; ok && time.Since(t) < 100*time.Millisecond {
				continue
			}
			sent[tid] = time.Now()
			if e := C.sw_signal(C.int(tid)); e != 0 && syscall.Errno(e) != syscall.ESRCH {
				return fmt.Errorf("signal thread %d: %w", tid, syscall.Errno(e))
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d threads did not answer within 5s", pending, len(tids))
		}
		time.Sleep(200 * time.Microsecond)
	}
	for tid, e := range acked {
		if e != 0 {
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err != nil {
				continue // exited
			}
			return fmt.Errorf("thread %d: %w", tid, syscall.Errno(e))
		}
	}
	return nil
}
