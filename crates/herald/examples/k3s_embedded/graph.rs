//! The K3s component graph with start delays scaled down from a real node: shared by the
//! `k3s_embedded` example and the start-up benchmark's `k3s` scenario.

/// (name, start delay in ms, requires, wants)
pub const COMPONENTS: &[(&str, u64, &[&str], &[&str])] = &[
    ("containerd", 40, &[], &[]),
    ("etcd", 60, &["containerd"], &[]),
    ("apiserver", 80, &["etcd"], &[]),
    ("scheduler", 20, &["apiserver"], &[]),
    ("controller-manager", 30, &["apiserver"], &[]),
    ("cloud-controller-manager", 15, &["apiserver"], &[]),
    ("kubelet", 50, &["containerd"], &["apiserver"]),
    ("kube-proxy", 10, &["apiserver"], &[]),
    ("cni", 25, &["kubelet"], &[]),
    ("helm-controller", 10, &["apiserver"], &["cni"]),
    ("deploy-controller", 10, &["apiserver"], &["cni"]),
];
