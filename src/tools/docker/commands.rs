//! The typed `docker` command builders: every argv kilter runs docker with.

use camino::Utf8Path;

use super::{CLUSTER_LABEL, Docker};
use crate::exec::{Cmd, Stdin};

impl Docker<'_> {
    pub fn info_cmd(&self) -> Cmd {
        self.bin.cmd("check that the Docker daemon is reachable").args([
            "info",
            "--format",
            "{{.ServerVersion}}",
        ])
    }

    pub fn inspect_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("inspect container {name}")).args([
            "inspect",
            "--type",
            "container",
            name,
        ])
    }

    /// `docker inspect --type container A B …` (one call for several containers).
    pub fn inspect_many_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("inspect containers {}", names.join(", ")))
            .args(["inspect", "--type", "container"])
            .args(names.iter().cloned())
    }

    /// `docker inspect --type container A B …` read for the port bindings (rebuilding the port
    /// registry).
    pub fn port_bindings_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd("read the port bindings of kilter clusters")
            .args(["inspect", "--type", "container"])
            .args(names.iter().cloned())
    }

    pub fn start_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("start node container {name}")).args(["start", name]).mutate()
    }
    pub fn stop_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("stop node container {name}")).args(["stop", name]).mutate()
    }
    pub fn unpause_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("unpause node container {name}")).args(["unpause", name]).mutate()
    }

    /// `docker start A B …`
    pub fn start_many_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("start {}", names.join(", ")))
            .arg("start")
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker stop A B …`
    pub fn stop_many_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("stop {}", names.join(", ")))
            .arg("stop")
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker rm -f A B …` (a missing name is not an error)
    pub fn rm_force_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("remove {}", names.join(", ")))
            .args(["rm", "-f"])
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker volume create --label K=V NAME` (creating an existing volume is fine)
    pub fn volume_create_cmd(&self, name: &str, labels: &[(&str, &str)]) -> Cmd {
        let mut c = self.bin.cmd(format!("create volume {name}")).args(["volume", "create"]);
        for (k, v) in labels {
            c = c.args(["--label".to_owned(), format!("{k}={v}")]);
        }
        c.arg(name).mutate()
    }
    /// `docker volume inspect A B …` (a missing one is reported on stderr, exit 1)
    pub fn volume_inspect_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("inspect volumes {}", names.join(", ")))
            .args(["volume", "inspect"])
            .args(names.iter().cloned())
    }
    /// `docker volume rm A B …`
    pub fn volume_rm_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("remove volumes {}", names.join(", ")))
            .args(["volume", "rm"])
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker volume ls --filter label=K --format '{{.Name}}'`
    pub fn volume_ls_cmd(&self, label: &str) -> Cmd {
        self.bin.cmd("list kilter's volumes").args([
            "volume",
            "ls",
            "--filter",
            &format!("label={label}"),
            "--format",
            "{{.Name}}",
        ])
    }
    /// `docker network inspect --format '{{.Name}}' NET`
    pub fn network_inspect_cmd(&self, net: &str) -> Cmd {
        self.bin.cmd(format!("look for docker network {net}")).args([
            "network",
            "inspect",
            "--format",
            "{{.Name}}",
            net,
        ])
    }
    /// `docker network connect NET CONTAINER`
    pub fn network_connect_cmd(&self, net: &str, container: &str) -> Cmd {
        self.bin
            .cmd(format!("connect {container} to the {net} network"))
            .args(["network", "connect", net, container])
            .mutate()
    }
    /// `docker run -d …` from a [`RunSpec`].
    pub fn run_cmd(&self, spec: &RunSpec) -> Cmd {
        let mut c = self.bin.cmd(format!("start {}", spec.name)).args([
            "run",
            "-d",
            "--name",
            &spec.name,
            "--restart",
            &spec.restart,
        ]);
        for p in &spec.publish {
            c = c.args(["-p", p]);
        }
        if let Some(net) = &spec.network {
            c = c.args(["--network", net]);
        }
        for v in &spec.volumes {
            c = c.args(["-v", v]);
        }
        for (k, v) in &spec.env {
            c = c.args(["-e".to_owned(), format!("{k}={v}")]);
        }
        for (k, v) in &spec.labels {
            c = c.args(["--label".to_owned(), format!("{k}={v}")]);
        }
        c.arg(&spec.image).mutate()
    }
    /// `docker exec NODE ARGS…` (a probe)
    pub fn exec_query_cmd(&self, node: &str, what: &str, args: &[String]) -> Cmd {
        self.bin.cmd(what).args(["exec", node]).args(args.iter().cloned())
    }
    /// `docker exec NODE ARGS…` that changes something
    pub fn exec_cmd(&self, node: &str, what: &str, args: &[String]) -> Cmd {
        self.exec_query_cmd(node, what, args).mutate()
    }
    /// `docker exec -i NODE ARGS… < FILE`
    pub fn exec_stdin_cmd(&self, node: &str, what: &str, args: &[String], stdin: &Utf8Path) -> Cmd {
        self.bin
            .cmd(what)
            .args(["exec", "-i", node])
            .args(args.iter().cloned())
            .stdin(Stdin::File(stdin.to_owned()))
            .mutate()
    }

    /// kilter's clusters and shared containers in one `docker ps -a`: every container whose name
    /// contains one of `prefixes` (repeated `name` filters are ORed); the caller keeps the ones
    /// whose labels say what they are.
    pub fn ps_names_cmd(&self, prefixes: &[String]) -> Cmd {
        let mut c = self.bin.cmd("list kilter's containers").args(["ps", "-a"]);
        for p in prefixes {
            c = c.args(["--filter".to_owned(), format!("name={p}")]);
        }
        c.args(["--format", "{{json .}}"])
    }

    /// CPU and memory of the named containers, one sample each (`--no-stream`; docker needs
    /// two readings for the CPU figure, so this takes a second or two on a real engine).
    /// Containers are named explicitly so that only kilter's nodes are sampled.
    pub fn stats_cmd<S: AsRef<str>>(&self, names: &[S]) -> Cmd {
        self.bin
            .cmd("read CPU and memory use of the kilter nodes")
            .args(["stats", "--no-stream", "--format", "{{json .}}"])
            .args(names.iter().map(|n| n.as_ref().to_owned()))
    }

    /// The daemon's own facts: `MemTotal` (bytes the engine can hand out; inside Docker
    /// Desktop's VM that is the VM's memory) and `NCPU`.
    pub fn info_json_cmd(&self) -> Cmd {
        self.bin.cmd("ask the Docker daemon about itself").args(["info", "--format", "{{json .}}"])
    }

    /// Every kind cluster's containers, one `docker ps -a` call.
    pub fn ps_kind_cmd(&self) -> Cmd {
        self.bin.cmd("list kind node containers").args([
            "ps",
            "-a",
            "--filter",
            &format!("label={CLUSTER_LABEL}"),
            "--format",
            "{{json .}}",
        ])
    }
}

/// `docker run -d` of a long-running service container.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub name: String,
    pub image: String,
    /// `--restart` policy, e.g. `unless-stopped`
    pub restart: String,
    /// `-p` values, e.g. `127.0.0.1:5001:5000`
    pub publish: Vec<String>,
    pub network: Option<String>,
    /// `-v` values, e.g. `kilter-registry:/var/lib/registry`
    pub volumes: Vec<String>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
}
