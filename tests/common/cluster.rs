//! A real 3-master Redis Cluster on loopback, started by the tests themselves
//! (`redis-server --cluster-enabled yes` on free ports in a temp dir, then
//! `redis-cli --cluster create ... --cluster-replicas 0`).
//!
//! Every node runs under a small shell watchdog that stops it when the test process is
//! gone, so a panicking or aborted test binary leaves no server behind; `Drop` stops
//! them at once.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster.
pub struct Cluster {
    dir: PathBuf,
    pub ports: Vec<u16>,
    nodes: Vec<Option<Child>>,
}

fn free_port() -> u16 {
    // A cluster node also listens on port + 10000: pick ports whose bus port is free too.
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let p = l.local_addr().unwrap().port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}

fn need(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is required for the Redis Cluster tests (apt-get install redis-server redis-tools)"
    );
}

impl Cluster {
    /// Starts three masters and waits for `cluster_state:ok` on every one.
    pub fn start() -> Self {
        need("redis-server");
        need("redis-cli");
        let dir = std::env::temp_dir().join(format!(
            "shield-cluster-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut c = Cluster {
            dir,
            ports: ports.clone(),
            nodes: Vec::new(),
        };
        for i in 0..3 {
            let child = c.spawn(i);
            c.nodes.push(Some(child));
        }
        for &p in &ports {
            c.wait_ping(p);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for &p in &ports {
            create.arg(format!("127.0.0.1:{p}"));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        c.wait_ok();
        c
    }

    /// The seed URLs, `redis://127.0.0.1:P`.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    fn spawn(&self, i: usize) -> Child {
        let port = self.ports[i];
        let conf = self.dir.join(format!("nodes-{port}.conf"));
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --cluster-enabled yes \
             --cluster-config-file {conf} --cluster-node-timeout 2000 --save '' --appendonly no \
             --dir {dir} --logfile {dir}/{port}.log & r=$!; \
             trap 'kill $r 2>/dev/null; exit 0' TERM; \
             while kill -0 {parent} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; \
             kill $r 2>/dev/null",
            conf = conf.display(),
            dir = self.dir.display(),
            parent = std::process::id(),
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server")
    }

    fn cli(port: u16, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn wait_ping(&self, port: u16) {
        let end = Instant::now() + Duration::from_secs(20);
        while Self::cli(port, &["PING"]).is_none_or(|o| !o.contains("PONG")) {
            assert!(Instant::now() < end, "redis-server on {port} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running node reports `cluster_state:ok` and agrees on 3 masters.
    pub fn wait_ok(&self) {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = self
                .ports
                .iter()
                .enumerate()
                .filter(|(i, _)| self.nodes.get(*i).is_some_and(Option::is_some))
                .all(|(_, &p)| {
                    Self::cli(p, &["CLUSTER", "INFO"]).is_some_and(|o| {
                        o.contains("cluster_state:ok") && o.contains("cluster_known_nodes:3")
                    })
                });
            if ok {
                return;
            }
            assert!(
                Instant::now() < end,
                "cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills master `i` (SIGKILL through the watchdog's child: no clean shutdown).
    pub fn kill(&mut self, i: usize) {
        let port = self.ports[i];
        // The server itself, not only its watchdog.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "kill -9 $(redis-cli -h 127.0.0.1 -p {port} INFO server | tr -d '\\r' | sed -n 's/^process_id://p')"
            ))
            .status();
        if let Some(mut c) = self.nodes[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts master `i` again on the same port and config file, and waits for the
    /// cluster to be whole.
    pub fn restart(&mut self, i: usize) {
        let child = self.spawn(i);
        self.nodes[i] = Some(child);
        self.wait_ping(self.ports[i]);
        self.wait_ok();
    }

    /// Moves `slots` slots from node `from` to node `to` with `redis-cli --cluster reshard`.
    pub fn reshard(&self, from: usize, to: usize, slots: u32) -> String {
        let id = |p: u16| {
            Self::cli(p, &["CLUSTER", "MYID"])
                .expect("cluster myid")
                .trim()
                .to_owned()
        };
        let out = Command::new("redis-cli")
            .args(["--cluster", "reshard"])
            .arg(format!("127.0.0.1:{}", self.ports[0]))
            .args(["--cluster-from", &id(self.ports[from])])
            .args(["--cluster-to", &id(self.ports[to])])
            .args(["--cluster-slots", &slots.to_string()])
            .args(["--cluster-yes", "--cluster-pipeline", "10"])
            .output()
            .expect("redis-cli --cluster reshard");
        assert!(
            out.status.success(),
            "reshard: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
