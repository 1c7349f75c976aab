"""Helpers for the graph, resolve and api tests: extract tiny C snippets with
the real extractor and build the graph from their facts, without a store."""

from __future__ import annotations

from analyzer.extract import extract_file
from analyzer.graph import build_graph
from analyzer.resolve import Index, Resolver

__all__ = ["index_of", "graph_of", "tiny_home", "SOCKET_SNIPPETS"]


def index_of(files: dict[str, str]) -> Index:
    """An :class:`Index` over snippet files ``{relpath: C text}``."""
    return Index.from_facts(extract_file(path, text.encode()) for path, text in files.items())


def graph_of(files: dict[str, str]):
    """``(graph, sites, resolver)`` for snippet files."""
    index = index_of(files)
    res = Resolver(index)
    g, sites = build_graph(index, files.get, res)
    return g, sites, res


#: a miniature of the socket path: a family table registered by a keyed
#: registrar, a proto table reached through a field-alias macro, a cast
#: function, a file system whose super_operations come through mount_pseudo
SOCKET_SNIPPETS = {
    "include/linux/net.h": """
struct socket;
struct net_proto_family {
	int family;
	int (*create)(struct socket *sock, int protocol);
};
struct proto_ops {
	int family;
	int (*bind)(struct socket *sock, int addr);
};
struct socket {
	int state;
	const struct proto_ops *ops;
	struct sock *sk;
};
#define AF_INET 2
#define AF_UNIX 1
#define PF_INET AF_INET
#define PF_UNIX AF_UNIX
""",
    "include/net/sock.h": """
struct proto {
	int (*init)(struct sock *sk);
	void (*close)(struct sock *sk, long timeout);
};
struct sock_common {
	unsigned short skc_family;
	struct proto *skc_prot;
};
struct sock {
	struct sock_common __sk_common;
#define sk_prot __sk_common.skc_prot
	void (*sk_destruct)(struct sock *sk);
};
struct inet_sock {
	struct sock sk;
	int inet_id;
};
static inline struct inet_sock *inet_sk(const struct sock *sk)
{
	return (struct inet_sock *)sk;
}
""",
    "include/linux/fs.h": """
struct super_block;
struct super_operations {
	struct inode *(*alloc_inode)(struct super_block *sb);
};
struct super_block {
	const struct super_operations *s_op;
};
struct file_system_type {
	const char *name;
	struct dentry *(*mount)(struct file_system_type *fs, int flags);
};
""",
    "net/socket.c": """
static const struct net_proto_family *net_families[32];
int sock_register(const struct net_proto_family *ops)
{
	net_families[ops->family] = ops;
	return 0;
}
int __sock_create(int family, int type, struct socket **res)
{
	const struct net_proto_family *pf;
	struct socket *sock = *res;
	pf = rcu_dereference(net_families[family]);
	return pf->create(sock, type);
}
int sock_bind(struct socket *sock, void *p, int addr)
{
	struct widget *w = p;
	w->poke(addr);
	unknown_thing->go(addr);
	return sock->ops->bind(sock, addr);
}
static struct inode *sock_alloc_inode(struct super_block *sb)
{
	return 0;
}
static const struct super_operations sockfs_ops = {
	.alloc_inode	= sock_alloc_inode,
};
static struct dentry *sockfs_mount(struct file_system_type *fs_type, int flags)
{
	return mount_pseudo(fs_type, "socket:", &sockfs_ops, 0x534F434B);
}
static struct file_system_type sock_fs_type = {
	.name =		"sockfs",
	.mount =	sockfs_mount,
};
static int sock_init(void)
{
	return register_filesystem(&sock_fs_type);
}
""",
    "fs/inode.c": """
static struct inode *alloc_inode(struct super_block *sb)
{
	return sb->s_op->alloc_inode(sb);
}
""",
    "net/ipv4/af_inet.c": """
static void inet_sock_destruct(struct sock *sk)
{
}
static int inet_create(struct socket *sock, int protocol)
{
	struct sock *sk = sock->sk;
	struct inet_sock *inet = inet_sk(sk);
	sk->sk_destruct = inet_sock_destruct;
	return sk->sk_prot->init(sk);
}
int inet_bind(struct socket *sock, int addr)
{
	return 0;
}
const struct proto_ops inet_stream_ops = {
	.family = PF_INET,
	.bind = inet_bind,
};
static const struct net_proto_family inet_family_ops = {
	.family = PF_INET,
	.create = inet_create,
};
static int inet_init(void)
{
	sock_register(&inet_family_ops);
	return 0;
}
""",
    "net/ipv4/tcp_ipv4.c": """
static int tcp_v4_init_sock(struct sock *sk)
{
	tcp_init_sock(sk);
	return 0;
}
void tcp_close(struct sock *sk, long timeout)
{
}
struct proto tcp_prot = {
	.init = tcp_v4_init_sock,
	.close = tcp_close,
};
""",
    "net/ipv4/tcp.c": """
void tcp_init_sock(struct sock *sk)
{
}
""",
    "net/unix/af_unix.c": """
static int unix_create(struct socket *sock, int protocol)
{
	return 0;
}
static const struct net_proto_family unix_family_ops = {
	.family = PF_UNIX,
	.create = unix_create,
};
static int af_unix_init(void)
{
	sock_register(&unix_family_ops);
	return 0;
}
""",
    "net/other/other.c": """
struct other_ops {
	int (*create)(struct socket *sock, int protocol);
};
static int other_create(struct socket *sock, int protocol)
{
	return 0;
}
static const struct other_ops other_table = {
	.create = other_create,
};
""",
}


def tiny_home(root, files: dict[str, str] = SOCKET_SNIPPETS):
    """A project home under ``root`` holding the snippet files as its kernel
    tree, their store, and the graph database built by the real stage."""
    from analyzer.config import Config
    from analyzer.graph import build_graph_store
    from analyzer.store import Writer

    cfg = Config(root).with_home(root)
    for rel, text in files.items():
        path = cfg.kernel_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    with Writer(cfg.store_path) as w:
        for rel, text in files.items():
            w.add_facts(extract_file(rel, text.encode()))
    report = build_graph_store(cfg, progress=False)
    return cfg, report
