//! Certificates made at test time with the `openssl` command: a CA, a server certificate for
//! chosen names, a client certificate (mutual TLS), and a second CA that signed none of them
//! (the "wrong CA" case). Each set lives in a temporary directory removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA, a server and a client certificate with their keys, as PEM files.
pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    /// Makes a CA, a server certificate valid for `server_names` (`DNS:localhost`,
    /// `IP:127.0.0.1`...) and a client certificate, all signed by the CA, plus an unrelated CA.
    pub fn generate(server_names: &[&str]) -> TlsFiles {
        let dir = std::env::temp_dir().join(format!(
            "cached-json-tls-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the test certificates");
        let files = TlsFiles { dir };
        for ca in ["ca", "other-ca"] {
            files.openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=cached-json test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
            ]);
        }
        files.signed(
            "server",
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
                server_names.join(",")
            ),
        );
        files.signed("client", "extendedKeyUsage=clientAuth\n");
        files
    }

    fn signed(&self, name: &str, extensions: &str) {
        std::fs::write(self.dir.join(format!("{name}.ext")), extensions).unwrap();
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN=cached-json test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ]);
    }

    fn openssl(&self, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|err| {
                panic!("cannot run `openssl` ({err}): install Debian's openssl package")
            });
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A file of the set: `ca.crt`, `other-ca.crt`, `server.crt`, `server.key`, `client.crt`,
    /// `client.key`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory holding them.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fastrand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64,
    );
    hasher.finish()
}
