// Node preparation for kubeadm (seed 004's prep script, made idempotent): swap off, kernel modules,
// bridge/forwarding sysctls, SELinux permissive (rocky9), firewall ports per role, containerd with the
// systemd cgroup driver and the site mirror, crictl, and pinned kubelet/kubeadm/kubectl.
import type { Step } from '../plan.ts';
import type { Host } from '../schema.ts';
import type { Topology } from '../topology.ts';
import { imageRepository, KUBE_IMAGES, kubeMinor } from '../cluster/images.ts';
import { MANAGED, OS_PROFILES } from './os.ts';

const KERNEL = 'the lab shares the machine\'s kernel: modules and bridge sysctls are the host\'s to set';
const PACKAGES = 'pinned Kubernetes packages come from the site mirror, which the lab does not fill yet';

/** Ports kubeadm's preflight and Calico need open, per role (kubernetes.io "Ports and Protocols"). */
export function firewallPorts(host: Host, encapsulation: string): string[] {
  const ports = new Set<string>();
  if (host.roles.includes('control-plane')) for (const p of ['6443/tcp', '2379-2380/tcp', '10250/tcp', '10257/tcp', '10259/tcp']) ports.add(p);
  if (host.roles.includes('worker') || host.roles.includes('control-plane')) {
    ports.add('10250/tcp');
    if (host.roles.includes('worker')) ports.add('30000-32767/tcp');
  }
  if (encapsulation.startsWith('VXLAN')) ports.add('4789/udp');
  else ports.add('179/tcp'); // BGP between calico-node peers
  return [...ports];
}

export function containerdConfig(sandboxImage: string): string {
  return `# ${MANAGED}
# containerd 1.6/1.7 (config version 2): systemd cgroup driver (as the kubelet), the pause image from
# the site mirror, and registry mirrors from /etc/containerd/certs.d/<registry>/hosts.toml.
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"

  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
`;
}

export function nodePrepSteps(topo: Topology, host: Host): Step[] {
  const cluster = topo.site.cluster;
  if (!cluster || !(host.roles.includes('control-plane') || host.roles.includes('worker'))) return [];
  const os = OS_PROFILES[host.os];
  const v = cluster.kubernetesVersion.replace(/^v/, '');
  const row = KUBE_IMAGES[kubeMinor(v)];
  const repo = imageRepository(topo.site) ?? 'registry.k8s.io';
  const sandbox = `${repo}/pause:${row?.pause ?? '3.9'}`;
  const steps: Step[] = [
    {
      kind: 'command',
      id: 'swap-off',
      title: 'swap is off now',
      check: '[ -z "$(swapon --show --noheadings 2>/dev/null)" ]',
      run: 'swapoff -a',
      // /proc/swaps is the machine's: swapoff inside a lab host would turn off the machine's own swap.
      labSkip: KERNEL,
    },
    {
      kind: 'command',
      id: 'swap-off-fstab',
      title: 'no swap in /etc/fstab (stays off after reboot)',
      check: "! grep -Eq '^[^#]\\S*\\s+\\S+\\s+swap\\s' /etc/fstab",
      run: "sed -i -E 's|^([^#]\\S*\\s+\\S+\\s+swap\\s.*)$|# disabled by airlock for the kubelet: \\1|' /etc/fstab",
    },
    {
      kind: 'file',
      id: 'modules-k8s',
      title: 'load overlay and br_netfilter at boot',
      path: '/etc/modules-load.d/k8s.conf',
      mode: '0644',
      content: `# ${MANAGED}\noverlay\nbr_netfilter\n`,
      compare: 'exact',
    },
    {
      kind: 'command',
      id: 'modules-loaded',
      title: 'overlay and br_netfilter are loaded',
      check: '[ -d /sys/module/overlay ] && [ -d /sys/module/br_netfilter ]',
      run: 'modprobe overlay && modprobe br_netfilter',
      labSkip: KERNEL,
    },
    {
      kind: 'file',
      id: 'sysctl-k8s',
      title: 'bridged traffic through iptables, IPv4 forwarding',
      path: '/etc/sysctl.d/99-kubernetes.conf',
      mode: '0644',
      content: `# ${MANAGED}\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n`,
      compare: 'exact',
    },
    {
      kind: 'command',
      id: 'sysctl-forward-live',
      title: 'IPv4 forwarding is on now',
      check: '[ "$(sysctl -n net.ipv4.ip_forward)" = 1 ]',
      run: 'sysctl -q -w net.ipv4.ip_forward=1',
    },
    {
      kind: 'command',
      id: 'sysctl-bridge-live',
      title: 'bridge-nf-call-iptables/ip6tables are 1 now',
      check: '[ "$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null)" = 1 ] && [ "$(sysctl -n net.bridge.bridge-nf-call-ip6tables 2>/dev/null)" = 1 ]',
      run: 'sysctl -q -p /etc/sysctl.d/99-kubernetes.conf',
      labSkip: KERNEL,
    },
  ];
  if (host.os === 'rocky9') {
    steps.push(
      {
        kind: 'command',
        id: 'selinux-permissive-now',
        title: 'SELinux permissive now (kubeadm does not support enforcing without policy work)',
        check: '[ "$(getenforce 2>/dev/null || echo Disabled)" != Enforcing ]',
        run: 'setenforce 0',
      },
      {
        kind: 'command',
        id: 'selinux-permissive-boot',
        title: 'SELinux permissive after reboot',
        check: "! grep -q '^SELINUX=enforcing' /etc/selinux/config 2>/dev/null",
        run: "sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config",
      },
    );
  }
  const ports = firewallPorts(host, cluster.cni.encapsulation);
  const active = 'systemctl is-active -q firewalld';
  steps.push({
    kind: 'command',
    id: 'firewall-k8s-ports',
    title: `firewalld (if running): open ${ports.join(' ')}${cluster.cni.encapsulation.startsWith('IPIP') ? ' and IP-in-IP' : ''}`,
    check: `! ${active} || { ${ports.map((p) => `firewall-cmd -q --query-port=${p}`).join(' && ')}${cluster.cni.encapsulation.startsWith('IPIP') ? ' && firewall-cmd -q --query-protocol=ipip' : ''}; }`,
    run: [...ports.map((p) => `firewall-cmd -q --add-port=${p} && firewall-cmd -q --permanent --add-port=${p}`), ...(cluster.cni.encapsulation.startsWith('IPIP') ? ['firewall-cmd -q --add-protocol=ipip && firewall-cmd -q --permanent --add-protocol=ipip'] : [])].join(' && '),
  });

  const pkgs = host.os === 'debian12' ? ['containerd'] : ['containerd.io'];
  steps.push(
    { kind: 'command', id: 'containerd-installed', title: 'containerd installed', check: os.queryPackage(pkgs[0]!), run: os.installCommand(pkgs), packages: pkgs.map((name) => ({ name })) },
    { kind: 'file', id: 'containerd-config', title: `containerd: SystemdCgroup, sandbox ${sandbox}, registry mirrors`, path: '/etc/containerd/config.toml', mode: '0644', content: containerdConfig(sandbox), compare: 'exact' },
    { kind: 'service', id: 'containerd-service', title: 'containerd running', unit: 'containerd.service', restartOn: ['containerd-config'] },
    {
      kind: 'file',
      id: 'crictl-config',
      title: 'crictl talks to containerd',
      path: '/etc/crictl.yaml',
      mode: '0644',
      content: `# ${MANAGED}\nruntime-endpoint: ${cluster.criSocket}\nimage-endpoint: ${cluster.criSocket}\ntimeout: 10\n`,
      compare: 'exact',
    },
  );
  const k8sPkgs = ['kubelet', 'kubeadm', 'kubectl'];
  steps.push({
    kind: 'command',
    id: 'kube-packages',
    title: `kubelet, kubeadm, kubectl ${v} installed and held`,
    check:
      host.os === 'debian12'
        ? k8sPkgs.map((p) => `dpkg-query -W -f='\${Version}' ${p} 2>/dev/null | grep -q '^${v.replace(/\./g, '\\.')}-'`).join(' && ') + ` && [ "$(apt-mark showhold | grep -cE '^(kubelet|kubeadm|kubectl)$')" = 3 ]`
        : k8sPkgs.map((p) => `rpm -q ${p} 2>/dev/null | grep -q -- '-${v.replace(/\./g, '\\.')}-'`).join(' && '),
    run:
      host.os === 'debian12'
        ? `apt-mark unhold ${k8sPkgs.join(' ')} >/dev/null 2>&1; ${os.installCommand(k8sPkgs.map((p) => `${p}='${v}-*'`))} && apt-mark hold ${k8sPkgs.join(' ')}`
        : `dnf install -y ${k8sPkgs.map((p) => `${p}-${v}`).join(' ')} --disableexcludes=kubernetes`,
    packages: k8sPkgs.map((name) => ({ name, version: v })),
    labSkip: PACKAGES,
  });
  return steps;
}
