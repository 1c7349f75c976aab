"""Mounting a pseudo file system (fs/libfs.c, fs/namespace.c): no block device."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import Obj
from analyzer.model.primitives.registry import primitive
from analyzer.model.rt import via
from analyzer.model.values import Sym


@primitive
def mount_pseudo(fs_type, name, ops, dops, magic, *rest):
    """A pseudo filesystem's mount (fs/libfs.c): a super_block whose s_op is
    ``ops`` and s_d_op ``dops`` (the dentry operations its dentries get), and a
    dentry for its root."""
    m = current_machine()
    sb = m.new("super_block")
    sb.s_op = ops
    sb.s_magic = magic
    sb.s_type = fs_type
    root = m.new("dentry")
    root.d_sb = sb
    sb.s_root = root
    sb.s_d_op = dops
    return root


@primitive
def kern_mount(fs_type):
    """``kern_mount(type)``: runs ``type->mount`` and wraps its root in a vfsmount."""
    m = current_machine()
    root = via(fs_type, "mount", "type->mount")(fs_type, 0, fs_type.name, None)
    mnt = m.new("mount").mnt  # a vfsmount lives in a struct mount (real_mount())
    mnt.mnt_root = root
    mnt.mnt_sb = root.d_sb if isinstance(root, Obj) else Sym("mnt_sb")
    return mnt
