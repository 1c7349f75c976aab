"""Tests of analyzer.resolve: type inference of receivers, bindings,
registration-aware narrowing, unresolved causes, stats."""

from __future__ import annotations

import pytest
from graph_snippets import SOCKET_SNIPPETS, graph_of, index_of

from analyzer import records
from analyzer.errors import AnalyzerError
from analyzer.resolve import Resolver, Unresolved, site_stats, stats


@pytest.fixture(scope="module")
def built():
    return graph_of(SOCKET_SNIPPETS)


def _site(sites, expr):
    return next(s for s in sites if s.expr == expr)


def _targets(site):
    return sorted(b.target for b in site.targets)


def test_array_element_through_rcu_macro_and_local(built):
    _, sites, _ = built
    site = _site(sites, "pf->create")
    assert (site.struct, site.field, site.confidence) == ("net_proto_family", "create", "typed")
    assert "net_proto_family" in site.rtype
    assert _targets(site) == ["inet_create@net/ipv4/af_inet.c", "unix_create@net/unix/af_unix.c"]


def test_never_joins_a_bare_field_name_across_struct_types(built):
    _, sites, _ = built
    targets = _targets(_site(sites, "pf->create"))
    assert "other_create@net/other/other.c" not in targets


def test_field_alias_macro_and_struct_field_types(built):
    _, sites, _ = built
    site = _site(sites, "sk->sk_prot->init")
    assert (site.struct, site.field) == ("proto", "init")
    assert _targets(site) == ["tcp_v4_init_sock@net/ipv4/tcp_ipv4.c"]
    site = _site(sites, "sb->s_op->alloc_inode")
    assert _targets(site) == ["sock_alloc_inode@net/socket.c"]
    assert site.targets[0].table == "sockfs_ops@net/socket.c"


def test_evidence_names_table_and_entry_line(built):
    _, sites, _ = built
    b = next(b for b in _site(sites, "pf->create").targets if b.target.startswith("inet_"))
    assert (b.table, b.file, b.kind) == ("inet_family_ops@net/ipv4/af_inet.c",
                                         "net/ipv4/af_inet.c", "initializer")
    text = SOCKET_SNIPPETS["net/ipv4/af_inet.c"].splitlines()
    assert text[b.line - 1].strip() == ".create = inet_create,"


def test_unresolved_sites_carry_a_cause(built):
    _, sites, _ = built
    assert _site(sites, "w->poke").cause == "unknown-struct"
    assert _site(sites, "unknown_thing->go").cause == "unknown-local"
    assert all(s.confidence == "unresolved" for s in sites if s.cause)


def test_void_pointer_cause():
    files = {"a.c": "struct t { int (*f)(void); };\n"
                    "int g(void *p) { return ((struct t *)p)->f() + p->x(); }\n"}
    _, sites, _ = graph_of(files)
    assert _site(sites, "p->x").cause == "void-pointer"
    assert _site(sites, "((struct t *)p)->f").cause == "no-binding"


def test_assignment_binds_through_inferred_receiver(built):
    _, _, res = built
    found = res.bindings()[("sock", "sk_destruct")]
    assert [(b.target, b.kind, b.function) for b in found] == [
        ("inet_sock_destruct@net/ipv4/af_inet.c", "assignment", "inet_create@net/ipv4/af_inet.c")]


def test_infer_locals_params_casts_container_of():
    idx = index_of(SOCKET_SNIPPETS)
    res = Resolver(idx)
    fn = idx.functions["inet_create@net/ipv4/af_inet.c"]
    assert res.infer("inet", fn).ctype == "struct inet_sock *"
    assert res.infer("sock->sk", fn).ctype == "struct sock *"
    assert res.infer("inet_sk(sk)", fn).ctype == "struct inet_sock *"
    assert res.infer("(struct proto *)sk", fn).ctype == "struct proto *"
    assert res.infer("container_of(sk, struct inet_sock, sk)", fn).ctype == "struct inet_sock *"
    assert res.infer("sk->sk_prot", fn).ctype == "struct proto *"
    assert res.infer("&inet->sk", fn).ctype == "struct sock *"
    with pytest.raises(Unresolved, match="no-field"):
        res.infer("sk->no_such_field", fn)


def test_typedef_and_nested_initializer():
    files = {"x.c": """
struct ops { int (*run)(int); };
struct outer { int id; struct ops inner; };
typedef struct outer outer_t;
static int run_a(int x) { return x; }
static outer_t table = { .id = 1, .inner = { .run = run_a } };
int use(outer_t *o) { return o->inner.run(1); }
"""}
    _, sites, _ = graph_of(files)
    site = _site(sites, "o->inner.run")
    assert (site.struct, site.field) == ("ops", "run")
    assert _targets(site) == ["run_a@x.c"]


def test_array_of_structs_initializer():
    files = {"y.c": """
struct protosw { int type; int (*op)(void); };
static int op_a(void) { return 1; }
static int op_b(void) { return 2; }
static struct protosw arr[] = { { .type = 1, .op = op_a }, { .type = 2, .op = op_b } };
int call(struct protosw *p) { return p->op(); }
"""}
    _, sites, _ = graph_of(files)
    assert _targets(_site(sites, "p->op")) == ["op_a@y.c", "op_b@y.c"]


def test_narrowing_by_family_with_chain(built):
    _, sites, res = built
    site = _site(sites, "pf->create")
    narrowed = res.narrow(site.targets, "AF_INET")
    assert [b.target for b, _ in narrowed] == ["inet_create@net/ipv4/af_inet.c"]
    step = narrowed[0][1][-1]
    assert (step["registrar"], step["caller"], step["key_field"], step["key_expr"],
            step["key_value"]) == ("sock_register", "inet_init@net/ipv4/af_inet.c", "family",
                                   "PF_INET", 2)
    assert [b.target for b, _ in res.narrow(site.targets, "PF_UNIX")] == [
        "unix_create@net/unix/af_unix.c"]
    assert res.narrow(site.targets, 7) == []
    with pytest.raises(AnalyzerError, match="AF_NOPE"):
        res.narrow(site.targets, "AF_NOPE")


def test_file_system_chain_through_mount_pseudo(built):
    _, sites, res = built
    site = _site(sites, "sb->s_op->alloc_inode")
    (binding, chain), = res.narrow(site.targets, "sockfs")
    assert [s["step"] for s in chain] == ["passed", "bound", "registered"]
    assert chain[0]["registrar"] == "mount_pseudo"
    assert chain[1]["table"] == "sock_fs_type@net/socket.c"
    assert chain[2]["registrar"] == "register_filesystem"


def test_site_stats_figures():
    rows = [("typed", "", 2), ("typed", "", 4), ("typed", "", 9), ("unresolved", "void-pointer", 0),
            ("unresolved", "no-binding", 0), ("unresolved", "void-pointer", 0)]
    s = site_stats(rows)
    assert s["indirect_sites"] == 6 and s["resolved_sites"] == 3
    assert s["resolved_share"] == 0.5 and s["mean_targets"] == 5.0 and s["median_targets"] == 4
    assert s["unresolved_by_cause"] == {"void-pointer": 2, "no-binding": 1}


def test_stats_needs_the_graph(tmp_path):
    from analyzer.config import Config

    with pytest.raises(AnalyzerError, match="graph"):
        stats(Config(tmp_path))


def test_records_function_ids_distinguish_statics(built):
    g, _, _ = built
    assert records.function_id("inet_create", "net/ipv4/af_inet.c", True) in g
    assert g.nodes["inet_bind"]["kind"] == "function"


def test_conditional_callee_reaches_both_functions():
    files = {"z.c": """
static int a_nosec(int x) { return x; }
static int a_sec(int x) { return x; }
int pick(int nosec) { return (nosec ? a_nosec : a_sec)(1); }
"""}
    _, sites, _ = graph_of(files)
    (site,) = sites
    assert site.confidence == "typed" and _targets(site) == ["a_nosec@z.c", "a_sec@z.c"]


def test_positional_initializer_and_anonymous_nested_struct():
    files = {"p.c": """
struct ops { int (*a)(int); int (*b)(int); };
static int fa(int x) { return x; }
static int fb(int x) { return x; }
static struct ops o = { fa, fb };
struct pk { int x; struct { int (*dump)(int); int (*done)(int); } dump; };
static int fd(int x) { return x; }
int g(struct ops *p, struct pk *k) { k->dump.done = fd; return p->b(1) + k->dump.done(2); }
"""}
    _, sites, _ = graph_of(files)
    assert _targets(_site(sites, "p->b")) == ["fb@p.c"]
    site = _site(sites, "k->dump.done")
    assert (site.struct, site.field) == ("pk", "dump.done")
    assert _targets(site) == ["fd@p.c"]


def test_function_pointer_parameter_takes_what_callers_pass():
    files = {"q.c": """
static int visit_a(int x) { return x; }
static int visit_b(int x) { return -x; }
static int walk(int n, int (*actor)(int)) { return actor(n); }
int run(void) { return walk(1, visit_a) + walk(2, &visit_b); }
static int lonely(int (*cb)(int)) { return cb(3); }
"""}
    _, sites, _ = graph_of(files)
    site = _site(sites, "actor")
    assert site.confidence == "typed" and _targets(site) == ["visit_a@q.c", "visit_b@q.c"]
    assert {(b.kind, b.function) for b in site.targets} == {("argument", "run")}
    assert _site(sites, "cb").cause == "function-pointer-param"


def test_table_listed_in_a_registered_array_is_keyed_by_its_element():
    files = {**SOCKET_SNIPPETS, "net/ipv4/protosw.c": """
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
struct inet_protosw { int type; struct proto *prot; };
static int udp_init(struct sock *sk) { return 0; }
struct proto udp_prot = { .init = udp_init };
static struct inet_protosw inetsw_array[] = {
	{ .type = SOCK_STREAM, .prot = &tcp_prot, },
	{ .type = SOCK_DGRAM, .prot = &udp_prot, },
};
static int protosw_init(void)
{
	struct inet_protosw *q;
	for (q = inetsw_array; q < &inetsw_array[2]; ++q)
		inet_register_protosw(q);
	return 0;
}
"""}
    _, sites, res = graph_of(files)
    site = _site(sites, "sk->sk_prot->init")
    assert len(site.targets) == 2
    (binding, chain), = res.narrow(site.targets, "type=SOCK_STREAM")
    assert binding.target == "tcp_v4_init_sock@net/ipv4/tcp_ipv4.c"
    assert [s["step"] for s in chain] == ["listed", "registered"]
    assert chain[0]["table"] == "inetsw_array@net/ipv4/protosw.c"
    assert (chain[1]["registrar"], chain[1]["key_expr"], chain[1]["key_value"]) == (
        "inet_register_protosw", "SOCK_STREAM", 1)
    assert [b.target for b, _ in res.narrow(site.targets, "type=2")] == [
        "udp_init@net/ipv4/protosw.c"]
    assert res.narrow(site.targets, "family=2") == []


def test_ifdef_variants_of_a_struct_in_one_header_are_merged():
    files = {"include/pa.h": """
#ifndef CONFIG_DIRECT
struct page_actor { void **page; int pages; };
#else
struct page_actor { void *(*first_page)(struct page_actor *a); int pages; };
#endif
""", "fs/pa.c": """
static void *first(struct page_actor *a) { return 0; }
static void setup(struct page_actor *a) { a->first_page = first; }
void *use(struct page_actor *a) { return a->first_page(a); }
"""}
    _, sites, _ = graph_of(files)
    assert _targets(_site(sites, "a->first_page")) == ["first@fs/pa.c"]


def test_a_local_designated_initializer_binds_its_members():
    """``struct readdir_callback buf = { .ctx.actor = filldir }`` binds
    ``dir_context.actor`` (the member path goes through ``ctx``)."""
    _, sites, _ = graph_of({"fs/readdir.c": """
struct dir_context { int (*actor)(struct dir_context *, int); int pos; };
struct readdir_callback { struct dir_context ctx; void *dirent; };
static int filldir(struct dir_context *ctx, int n) { return n; }
int iterate_dir(struct dir_context *ctx) { return ctx->actor(ctx, 1); }
int getdents(void *dirent)
{
	struct readdir_callback buf = {
		.ctx.actor = filldir,
		.dirent = dirent
	};
	return iterate_dir(&buf.ctx);
}
"""})
    site = _site(sites, "ctx->actor")
    assert (site.struct, site.field) == ("dir_context", "actor")
    assert [(b.target, b.kind, b.line, b.function) for b in site.targets] == [
        ("filldir@fs/readdir.c", "assignment", 9, "getdents")]


SEQ_FILE = """
struct seq_operations { int (*show)(struct seq_file *, void *); };
struct seq_file { const struct seq_operations *op; };
int seq_read(struct seq_file *m) { return m->op->show(m, 0); }
int single_open(struct file *file, int (*show)(struct seq_file *, void *), void *data)
{
	struct seq_operations *op = kmalloc(sizeof(*op), GFP_KERNEL);
	op->show = show;
	return seq_open(file, op);
}
static int foo_show(struct seq_file *m, void *v) { return 0; }
static int foo_open(struct file *file) { return single_open(file, foo_show, NULL); }
static int bar_show(struct seq_file *m, void *v) { return 0; }
static int bar_open(struct file *file) { return single_open(file, &bar_show, NULL); }
static int baz_open(struct file *file, void *fn) { return single_open(file, fn, NULL); }
int seq_show(struct seq_file *m, void *v) { return 0; }
static int qux_open(struct file *file, int (*seq_show)(struct seq_file *, void *))
{ return single_open(file, seq_show, NULL); }  /* the parameter, not the function */
"""


def test_a_parameter_stored_in_a_member_binds_what_callers_pass():
    """``op->show = show;`` in ``single_open``: ``seq_operations.show`` is bound
    to each function that a direct caller passes as ``show``, at that call."""
    _, sites, _ = graph_of({"fs/seq_file.c": SEQ_FILE})
    site = _site(sites, "m->op->show")
    assert (site.struct, site.field, site.confidence) == ("seq_operations", "show", "typed")
    got = [(b.target, b.kind, b.line, b.function, b.expr, b.via) for b in site.targets]
    assert got == [
        ("foo_show@fs/seq_file.c", "argument", 12, "foo_open@fs/seq_file.c", "op->show",
         "single_open at fs/seq_file.c:8"),
        ("bar_show@fs/seq_file.c", "argument", 14, "bar_open@fs/seq_file.c", "op->show",
         "single_open at fs/seq_file.c:8")]


RX_HANDLER = """
typedef int rx_handler_func_t(struct sk_buff **pskb);
struct net_device { rx_handler_func_t *rx_handler; };
struct sk_buff { struct net_device *dev; };
int netdev_rx_handler_register(struct net_device *dev, rx_handler_func_t *rx_handler)
{
	rcu_assign_pointer(dev->rx_handler, rx_handler);
	return 0;
}
static int br_handle_frame(struct sk_buff **pskb) { return 0; }
int br_add_if(struct net_device *dev) { return netdev_rx_handler_register(dev, br_handle_frame); }
int __netif_receive_skb_core(struct sk_buff *skb)
{
	rx_handler_func_t *rx_handler;
	rx_handler = rcu_dereference(skb->dev->rx_handler);
	if (rx_handler)
		return rx_handler(&skb);
	return 0;
}
int other(struct sk_buff *skb)
{
	int (*fn)(struct sk_buff **) = (void *)0;
	return fn(&skb);
}
"""


def test_a_call_through_a_function_pointer_local_resolves_its_value():
    """``rx_handler = rcu_dereference(skb->dev->rx_handler); rx_handler(&skb)``:
    the member it was read from, bound by ``rcu_assign_pointer`` in the
    registrar to what its callers pass."""
    _, sites, _ = graph_of({"net/core/dev.c": RX_HANDLER})
    site = next(s for s in sites if s.expr == "rx_handler")
    assert (site.struct, site.field, site.confidence) == ("net_device", "rx_handler", "typed")
    [b] = site.targets
    assert (b.target, b.kind, b.line, b.function) == (
        "br_handle_frame@net/core/dev.c", "argument", 11, "br_add_if")
    assert b.via == "netdev_rx_handler_register at net/core/dev.c:7"
    assert b.local == ("rx_handler = rcu_dereference(skb->dev->rx_handler) "
                       "at net/core/dev.c:15")
    site = next(s for s in sites if s.expr == "fn")
    assert not site.targets and site.cause


def test_functions_passed_on_through_a_wrapper_parameter():
    """``single_open_size(file, show, ...)`` hands its own ``show`` to
    ``single_open``: the functions passed to the wrapper count, at their call."""
    code = SEQ_FILE + """
int single_open_size(struct file *file, int (*show)(struct seq_file *, void *), void *data,
                     int size)
{ return single_open(file, show, data); }
static int big_show(struct seq_file *m, void *v) { return 0; }
static int big_open(struct file *file) { return single_open_size(file, big_show, 0, 4096); }
"""
    _, sites, _ = graph_of({"fs/seq_file.c": code})
    site = _site(sites, "m->op->show")
    got = {(b.target, b.function, b.line) for b in site.targets}
    line = next(i for i, t in enumerate(code.splitlines(), 1) if "big_open" in t)
    assert ("big_show@fs/seq_file.c", "big_open@fs/seq_file.c", line) in got
    assert len(got) == 3  # foo_show, bar_show and big_show; no parameter taken for a function


def test_array_members_and_locals_named_after_functions():
    """``.adt = { [IPSET_ADD] = h_add }`` binds the array member ``adt``, which
    ``set->variant->adt[adt](...)`` calls; a local given a function by name
    (``process = inc_ref;``) calls that function."""
    code = """
typedef int (*ipset_adtfn)(struct ip_set *set, void *value);
enum { IPSET_ADD, IPSET_DEL, IPSET_ADT_MAX };
struct ip_set_type_variant { ipset_adtfn adt[IPSET_ADT_MAX]; };
struct ip_set { const struct ip_set_type_variant *variant; };
static int h_add(struct ip_set *set, void *v) { return 0; }
static int h_del(struct ip_set *set, void *v) { return 0; }
static const struct ip_set_type_variant hash_variant = {
	.adt = { [IPSET_ADD] = h_add, [IPSET_DEL] = h_del },
};
static int inc_ref(int x) { return x; }
static int dec_ref(int x) { return -x; }
int kadt(struct ip_set *set, int adt, int inc)
{
	ipset_adtfn adtfn = set->variant->adt[adt];
	int (*process)(int);
	if (inc)
		process = inc_ref;
	else
		process = dec_ref;
	return adtfn(set, 0) + set->variant->adt[adt](set, 0) + process(1);
}
"""
    _, sites, _ = graph_of({"net/netfilter/x.c": code})
    for expr in ("adtfn", "set->variant->adt[adt]"):
        site = _site(sites, expr)
        assert (site.struct, site.field) == ("ip_set_type_variant", "adt"), expr
        assert _targets(site) == ["h_add@net/netfilter/x.c", "h_del@net/netfilter/x.c"]
    assert _site(sites, "adtfn").targets[0].local == \
        "adtfn = set->variant->adt[adt] at net/netfilter/x.c:15"
    site = _site(sites, "process")
    assert [(b.target, b.kind, b.local) for b in site.targets] == [
        ("inc_ref@net/netfilter/x.c", "value", "process = inc_ref at net/netfilter/x.c:18"),
        ("dec_ref@net/netfilter/x.c", "value", "process = dec_ref at net/netfilter/x.c:20")]


def test_a_member_filled_with_a_function_of_another_tree_binds_it_by_name():
    """``.read_iter = generic_file_read_iter`` (mm/filemap.c, outside the
    analysed files) fills a function-pointer member: the name is the target;
    a global variable or a constant in that place is not taken for one."""
    code = """
struct file_operations { ssize_t (*read_iter)(struct kiocb *, struct iov_iter *); int mode; };
struct file { const struct file_operations *f_op; };
extern int some_mode;
const struct file_operations generic_ro_fops = {
	.read_iter = generic_file_read_iter,
	.mode = some_mode,
};
ssize_t new_sync_read(struct file *filp) { return filp->f_op->read_iter(0, 0); }
"""
    _, sites, _ = graph_of({"fs/read_write.c": code})
    site = _site(sites, "filp->f_op->read_iter")
    assert _targets(site) == ["generic_file_read_iter"]
    assert site.targets[0].table == "generic_ro_fops"


def test_a_member_copied_from_another_takes_its_bindings():
    """``nlk->netlink_bind = cfg->bind`` in ``netlink_kernel_create``: the
    functions bound to ``netlink_kernel_cfg.bind`` reach ``nlk->netlink_bind(...)``,
    with the copy as ``via``; a data member copied the same way binds nothing."""
    code = """
struct netlink_kernel_cfg { int (*bind)(struct net *net, int group); int flags; };
struct netlink_sock { int (*netlink_bind)(struct net *net, int group); int portid; };
struct netlink_sock *nlk_sk(struct sock *sk);
struct sock *netlink_kernel_create(struct net *net, int unit, struct netlink_kernel_cfg *cfg)
{
	struct netlink_sock *nlk = nlk_sk(0);
	nlk->netlink_bind = cfg->bind;
	nlk->portid = cfg->flags;
	return 0;
}
static int genl_bind(struct net *net, int group) { return 0; }
static struct netlink_kernel_cfg genl_cfg = { .bind = genl_bind };
int netlink_bind(struct sock *sk, struct net *net)
{
	struct netlink_sock *nlk = nlk_sk(sk);
	return nlk->netlink_bind(net, 1);
}
"""
    _, sites, res = graph_of({"net/netlink/af_netlink.c": code})
    [b] = _site(sites, "nlk->netlink_bind").targets
    assert (b.target, b.kind, b.table) == ("genl_bind@net/netlink/af_netlink.c", "initializer",
                                           "genl_cfg@net/netlink/af_netlink.c")
    assert b.via == ("cfg->bind copied to nlk->netlink_bind by netlink_kernel_create "
                     "at net/netlink/af_netlink.c:8")
    assert ("netlink_sock", "portid") not in res.bindings()
