"""Compiler hints, RCU and locks (no state to show), error pointers, strings."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import container_of
from analyzer.model.primitives.registry import primitive
from analyzer.model.rt import store
from analyzer.model.values import Named, Sym, display


@primitive
def nothing(*args):
    """Locks, RCU read sections, memory barriers, debug checks: no state the model shows."""
    return None


@primitive
def identity(x, *rest):
    """``likely(x)``, ``rcu_dereference(p)``, ``READ_ONCE(x)``: the value itself."""
    return x


@primitive
def assign_ref(ref_, value, *rest):
    """``rcu_assign_pointer(p, v)``, ``RCU_INIT_POINTER(p, v)``, ``WRITE_ONCE(x, v)``."""
    store(ref_, value)
    return value


@primitive
def is_err(p):
    """``IS_ERR(p)``: ``p`` is an error code, ``-MAX_ERRNO <= p < 0`` with
    MAX_ERRNO read from the tree (include/linux/err.h); objects are pointers."""
    if isinstance(p, Sym):
        return Sym(f"IS_ERR({p.name})", p.why, False if p.outcome is not None else None)
    if not isinstance(p, int) or isinstance(p, bool):
        return 0
    limit = current_machine().constant("MAX_ERRNO")
    if limit is None:
        return Sym(f"IS_ERR({display(p)})")
    return int(-limit <= int(p) < 0)


@primitive
def ptr_err(p):
    return p


@primitive
def err_ptr(e):
    return e


@primitive
def is_err_or_null(p) -> int:
    return int(p is None or bool(is_err(p)))


@primitive
def array_size(arr) -> int:
    return len(arr)


@primitive
def container_of_(ptr, type_name, member):
    return container_of(ptr, type_name, member)






@primitive
def jiffies_to_usecs(j):
    """``jiffies_to_usecs(j)`` of kernel/time/time.c (not among the analysed
    files): ``(USEC_PER_SEC / HZ) * j`` when HZ divides USEC_PER_SEC, the
    kernel's own ``#if``; both constants come from the tree."""
    m = current_machine()
    hz, usec = m.constant("HZ"), m.constant("USEC_PER_SEC")
    if not hz or usec is None or usec % hz or type(j) not in (int, Named):
        return Sym(f"jiffies_to_usecs({display(j)})")
    return (usec // hz) * int(j)


@primitive
def builtin_constant_p(x) -> int:
    """``__builtin_constant_p(x)``: 1 for a value the model computed (the
    compiler folds both branches of the kernel's uses to the same value)."""
    return int(type(x) is int or isinstance(x, Named))


def _bswap(x, nbytes: int):
    if isinstance(x, Sym):
        return x.derived(f"bswap({x.name})")
    return int.from_bytes(int(x).to_bytes(nbytes, "little", signed=False)[:nbytes], "big")


@primitive
def bswap16(x):
    return _bswap(int(x) & 0xFFFF if not isinstance(x, Sym) else x, 2)


@primitive
def bswap32(x):
    return _bswap(int(x) & 0xFFFFFFFF if not isinstance(x, Sym) else x, 4)


@primitive
def bswap64(x):
    return _bswap(int(x) & (1 << 64) - 1 if not isinstance(x, Sym) else x, 8)


@primitive
def irqsave(*args):
    """``spin_lock_irqsave(lock, flags)``, ``local_irq_save(flags)``: the saved
    interrupt state in ``flags`` (0: the model has no interrupts)."""
    store(args[-1], 0)


@primitive
def zero(*args):
    """``read_seqbegin()``, ``read_seqretry()``: 0, no writer runs at the same
    time on the model's one CPU."""
    return 0


@primitive
def one(*args):
    """``lockdep_is_held()``, ``rcu_read_lock_held()``: the checks that hold."""
    return 1


@primitive
def random_value(*args):
    """``prandom_u32()``, ``get_random_int()``: a random number, unknown."""
    return Sym("a random number", "random numbers are not known statically")


@primitive
def random_bytes(buf, nbytes, *rest):
    """``get_random_bytes(buf, n)``, ``prandom_bytes(buf, n)``: the elements
    of ``buf`` become random numbers, unknown."""
    from analyzer.model.assume import drop_write
    from analyzer.model.objects import CArray, IndexRef

    del rest
    if isinstance(buf, CArray):
        buf = IndexRef(buf, 0)
    m = current_machine()
    size = m.sizeof(buf.arr.elem.ctype) if isinstance(buf, IndexRef) else None
    if isinstance(size, int) and int(size) > 0 and not isinstance(nbytes, Sym):
        for k in range(int(nbytes) // int(size)):
            buf.arr[buf.i + k] = Sym("a random number", "random numbers are not known "
                                     "statically")
    elif buf is not None:
        drop_write(buf if isinstance(buf, Sym) else Sym(display(buf), "random bytes"), "",
                   "random bytes")
    return None


@primitive
def per_cpu(p, *rest):
    """``per_cpu_ptr(p, cpu)``, ``this_cpu_ptr(p)``: the model has one CPU
    (``[machine].cpus``), so per-cpu data is one copy: the pointer itself."""
    return p


@primitive
def this_cpu_add(ref_, value=1):
    """``this_cpu_add(pcp, n)`` and friends on the one CPU's copy."""
    from analyzer.model.rt import deref

    store(ref_, deref(ref_) + value)


@primitive
def this_cpu_sub(ref_, value=1):
    from analyzer.model.rt import deref

    store(ref_, deref(ref_) - value)


@primitive
def this_cpu_inc(ref_):
    this_cpu_add(ref_, 1)


@primitive
def this_cpu_dec(ref_):
    this_cpu_sub(ref_, 1)


@primitive
def nr_cpu_ids():
    """``nr_cpu_ids``: the CPUs of the machine the model boots (``[machine].cpus``)."""
    return int(current_machine().cpus)


@primitive
def this_cpu_id():
    """``smp_processor_id()`` / ``raw_smp_processor_id()`` (arch/x86/include/asm/smp.h,
    ``this_cpu_read(cpu_number)``): the model's machine runs everything on its
    first CPU, number 0."""
    return 0


@primitive
def cpumask_next(n, mask=None):
    """``cpumask_next(n, mask)``: the next CPU after ``n``; every CPU of the
    model's machine is possible, present and online."""
    return int(n) + 1


@primitive
def bug(*args):
    """``BUG()``: the kernel stops with "kernel BUG at file:line"."""
    m = current_machine()
    file, line = m.caller_location() or ("?", 0)
    from analyzer.model.context import ModelError

    raise ModelError(f"kernel BUG at {file}:{line}!")


@primitive
def panic(fmt=None, *args):
    """``panic(fmt, ...)``: the kernel stops."""
    from analyzer.model.context import ModelError
    from analyzer.model.primitives.strings import c_format

    text = c_format(fmt, args) if fmt is not None else ""
    shown = display(text) if isinstance(text, Sym) else text
    raise ModelError(f"Kernel panic - not syncing: {shown}".rstrip())


@primitive
def warn(*args):
    """``WARN_ON()`` fired: the kernel prints a warning and goes on."""
    m = current_machine()
    file, line = m.caller_location() or ("?", 0)
    m.note(f"WARNING at {file}:{line}")


@primitive
def build_bug_on(condition, *rest):
    """``BUILD_BUG_ON(cond)``: the build fails when ``cond`` holds."""
    from analyzer.model.context import ModelError

    if isinstance(condition, Sym):
        return 0
    if condition:
        m = current_machine()
        file, line = m.caller_location() or ("?", 0)
        raise ModelError(f"BUILD_BUG_ON at {file}:{line}: this kernel would not compile")
    return 0


@primitive
def now(*args):
    """The time (``current_fs_time``, ``ktime_get``...): not known statically."""
    return Sym("the time", "the time is not known statically")


@primitive
def cpus(*args):
    """``num_possible_cpus()``, ``cpumask_weight(cpu_online_mask)``: the CPUs of
    the model's machine, all possible, present and online."""
    return int(current_machine().cpus)
