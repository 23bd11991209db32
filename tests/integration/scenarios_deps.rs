//! Scenarios against real dependency containers on both engines: `exec` into a dependency,
//! its published port as a template variable, over raw TCP and as KUBETEST_DEP_* in host
//! commands; `up --run` brings the environment up and runs the scenarios in one command.

use crate::engines::{busybox_context, engines};
use crate::support::{unique, Run};

#[test]
fn exec_http_and_env_against_a_real_dependency() {
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let image = format!(
            "localhost/{}:1",
            unique(&format!("kt-it-scen-exec-{}", engine.name))
        );
        busybox_context(&tmp.path().join("app"), "marker-for-scenarios", None);
        std::fs::create_dir(tmp.path().join("scenarios")).unwrap();
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: it-scen-{e}\nengine: {e}\ncluster: {{ provider: none }}\n\
                 images:\n  - {{ name: {image}, context: app }}\n\
                 dependencies:\n  box:\n    image: {image}\n    command: [/bin/busybox, httpd, -f, -p, \"8080\", -h, /]\n    ports: [\"0:8080\"]\n    health: {{ http: {{ port: 8080, path: /marker.txt }} }}\n\
                 scenarios: scenarios/\n",
                e = engine.name
            ),
        )
        .unwrap();
        std::fs::write(
            tmp.path().join("scenarios/box.yaml"),
            r#"name: box-works
steps:
  - name: exec sees both streams and JSON
    exec:
      dependency: box
      command: [/bin/busybox, sh, -c, 'echo "{\"ok\": true, \"n\": 7}"; echo careful >&2']
      expect: { stdout_contains: '"ok"', stderr_contains: careful, json: { ok: true } }
    capture: { n: .json.n }
  - name: exit codes are expectations
    exec: { dependency: box, command: [/bin/busybox, sh, -c, "exit {{ n }}"], expect: { exit_code: 7 } }
  - name: the published port as a template variable
    http: { url: "http://127.0.0.1:{{ deps.box.port.8080 }}/marker.txt", expect: { status: 200, body_contains: marker-for-scenarios } }
  - name: the published port over raw TCP (no nc on the host)
    tcp: { port: "{{ deps.box.port.8080 }}", send: "GET /marker.txt HTTP/1.0\r\n\r\n", expect: { contains: marker-for-scenarios } }
  - name: and as an environment variable of host commands
    run: { command: [sh, -c, 'test "$KUBETEST_DEP_BOX_HOST" = 127.0.0.1 && test "$KUBETEST_DEP_BOX_PORT_8080" -gt 0'] }
"#,
        )
        .unwrap();
        // `up --run`: the environment, then every scenario, in one command (the README's).
        let run = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["up", "--run", "--output", "json"]),
        );
        let failures: Vec<&serde_json::Value> = run
            .events
            .iter()
            .filter(|e| e["event"] == "step_finished" && e["outcome"] != "ok")
            .collect();
        assert_eq!(run.code, 0, "{}: {failures:?} {}", engine.name, run.stderr);
        assert_eq!(
            run.task_outcomes("scenarios"),
            vec![("box-works".to_owned(), "ok".to_owned())]
        );
        let down = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["down", "--images", "--output", "json"]),
        );
        assert_eq!(down.code, 0, "{}", down.stderr);
    }
}
