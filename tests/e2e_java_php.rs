//! End to end, against a real Docker engine: Java and PHP layers. Maven Central and Packagist are
//! not reachable here, so each test builds the repository it installs from: a file-based Maven
//! repository holding a jar the test made, and a Composer `path` repository with packagist.org
//! disabled. The layers are then loaded in a fresh container.
//!
//! FC's java11 and php7.2 runtimes are Debian 9; these build on a local Debian 11 base (OpenJDK
//! 11; PHP 7.4 standing in for 7.2, with Composer resolving for PHP 7.2).

mod common;

use std::io::Write;
use std::path::Path;

use common::*;

/// A Java 8 class file defining `public static String greet()` returning `text`, written byte by
/// byte: no JDK is needed on the host.
fn class_file(class: &str, text: &str) -> Vec<u8> {
    fn utf8(out: &mut Vec<u8>, s: &str) {
        out.push(1);
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut c = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 52];
    c.extend_from_slice(&10u16.to_be_bytes()); // constant pool count + 1
    utf8(&mut c, class); // #1
    c.extend_from_slice(&[7, 0, 1]); // #2 Class #1
    utf8(&mut c, "java/lang/Object"); // #3
    c.extend_from_slice(&[7, 0, 3]); // #4 Class #3
    utf8(&mut c, "greet"); // #5
    utf8(&mut c, "()Ljava/lang/String;"); // #6
    utf8(&mut c, "Code"); // #7
    utf8(&mut c, text); // #8
    c.extend_from_slice(&[8, 0, 8]); // #9 String #8
    c.extend_from_slice(&[0x00, 0x21, 0, 2, 0, 4, 0, 0, 0, 0]); // public super, this, super, no interfaces or fields
    c.extend_from_slice(&[0, 1, 0x00, 0x09, 0, 5, 0, 6, 0, 1]); // one method: public static greet, one attribute
    c.extend_from_slice(&[0, 7, 0, 0, 0, 15, 0, 1, 0, 0, 0, 0, 0, 3]); // Code: max_stack 1, max_locals 0, 3 bytes
    c.extend_from_slice(&[0x12, 9, 0xB0, 0, 0, 0, 0]); // ldc #9; areturn; no handlers or attributes
    c.extend_from_slice(&[0, 0]); // no class attributes
    c
}

fn jar(path: &Path, class: &str, text: &str) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("META-INF/MANIFEST.MF", opts).unwrap();
    zip.write_all(b"Manifest-Version: 1.0\r\n\r\n").unwrap();
    zip.start_file(format!("{class}.class"), opts).unwrap();
    zip.write_all(&class_file(class, text)).unwrap();
    zip.finish().unwrap();
}

/// Put `group:artifact:version` into a file-based Maven repository.
fn deploy(repo: &Path, group: &str, artifact: &str, version: &str, class: &str, text: &str) {
    let dir = repo
        .join(group.replace('.', "/"))
        .join(artifact)
        .join(version);
    std::fs::create_dir_all(&dir).unwrap();
    jar(&dir.join(format!("{artifact}-{version}.jar")), class, text);
    std::fs::write(
        dir.join(format!("{artifact}-{version}.pom")),
        format!("<project><modelVersion>4.0.0</modelVersion><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></project>\n"),
    )
    .unwrap();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn java_layer_from_a_local_maven_repository_loads_its_class() {
    require_engine_and(&["debian:11"]);
    let tmp = tempdir();
    let project = tmp.path().join("svc");
    let repo = project.join("repo");
    deploy(
        &repo,
        "com.example",
        "hello",
        "1.0",
        "com/example/Hello",
        "hello from java",
    );
    deploy(
        &repo,
        "com.example",
        "testkit",
        "2.0",
        "com/example/Testkit",
        "test only",
    );
    std::fs::write(
        project.join("pom.xml"),
        r#"<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>svc</artifactId>
  <version>1</version>
  <repositories>
    <repository><id>local</id><url>file://${project.basedir}/repo</url></repository>
  </repositories>
  <dependencies>
    <dependency><groupId>com.example</groupId><artifactId>hello</artifactId><version>1.0</version></dependency>
    <dependency><groupId>com.example</groupId><artifactId>testkit</artifactId><version>2.0</version><scope>test</scope></dependency>
  </dependencies>
</project>
"#,
    )
    .unwrap();
    // Air-gapped: Maven's own plugins come from Debian's packaged repository, not Central.
    std::fs::write(
        project.join("settings.xml"),
        "<settings><mirrors><mirror><id>debian</id><mirrorOf>central</mirrorOf><url>file:///usr/share/maven-repo</url></mirror></mirrors></settings>\n",
    )
    .unwrap();
    let out_zip = tmp.path().join("java-layer.zip");
    let out = Build::on("java11", "debian:11", &project)
        .out(&out_zip)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        zip_names(&out_zip),
        vec!["java/", "java/lib/", "java/lib/hello-1.0.jar"],
        "only the runtime dependency belongs in java/lib"
    );
    assert!(fclayer_containers().is_empty());

    let image = newest_image("fclayer/build-java11");
    let main = "public class Main { public static void main(String[] a) { System.out.println(com.example.Hello.greet()); } }";
    let ran = run_with_layer(
        &image,
        &out_zip,
        &[],
        &[
            "sh",
            "-c",
            &format!(
                "cd /tmp && echo '{main}' > Main.java && java -cp '/opt/java/lib/*' Main.java"
            ),
        ],
    );
    assert!(ran.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "hello from java"
    );
}

fn greeter(root: &Path, version: &str) {
    let dir = root.join(format!("packages/greeter-{version}"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("composer.json"),
        format!(r#"{{"name": "acme/greeter", "version": "{version}", "autoload": {{"psr-4": {{"Acme\\Greeter\\": "src/"}}}}, "require": {{"php": ">=7.1"}}}}"#),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/Hello.php"),
        format!("<?php\nnamespace Acme\\Greeter;\nclass Hello {{ public static function say() {{ return \"hello {version}\"; }} }}\n"),
    )
    .unwrap();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn php_layer_from_a_path_repository_honours_the_lockfile() {
    require_engine_and(&["debian:11"]);
    let tmp = tempdir();
    let project = tmp.path().join("web");
    greeter(&project, "1.2.0");
    greeter(&project, "1.3.0");
    let devtool = project.join("packages/devtool");
    std::fs::create_dir_all(&devtool).unwrap();
    std::fs::write(
        devtool.join("composer.json"),
        r#"{"name": "acme/devtool", "version": "1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        project.join("composer.json"),
        r#"{"name": "acme/web", "repositories": [{"packagist.org": false}, {"type": "path", "url": "packages/*"}], "require": {"acme/greeter": "^1.2"}, "require-dev": {"acme/devtool": "*"}}"#,
    )
    .unwrap();
    let build = |out: &Path| Build::on("php7.2", "debian:11", &project).out(out).run();
    let first = tmp.path().join("php-1.zip");
    let out = build(&first);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = zip_names(&first);
    for want in [
        "php/composer.json",
        "php/composer.lock",
        "php/vendor/autoload.php",
        "php/vendor/acme/greeter/src/Hello.php",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.contains("devtool")),
        "a dev package was installed"
    );
    let image = newest_image("fclayer/build-php7.2");
    let say = |zip: &Path| {
        let ran = run_with_layer(
            &image,
            zip,
            &[],
            &[
                "php",
                "-r",
                "require '/opt/php/vendor/autoload.php'; echo Acme\\Greeter\\Hello::say();",
            ],
        );
        assert!(ran.status.success());
        String::from_utf8_lossy(&ran.stdout).into_owned()
    };
    assert_eq!(
        say(&first),
        "hello 1.3.0",
        "without a lock the newest version is taken"
    );

    // Pin 1.2.0 in a lockfile: the build must install exactly that.
    let lock = {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&first).unwrap()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("php/composer.lock").unwrap(), &mut text)
            .unwrap();
        text
    };
    assert!(lock.contains("\"version\": \"1.3.0\""));
    std::fs::write(
        project.join("composer.lock"),
        lock.replace("1.3.0", "1.2.0"),
    )
    .unwrap();
    let second = tmp.path().join("php-2.zip");
    let out = build(&second);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(say(&second), "hello 1.2.0", "the lockfile was not honoured");
    assert!(fclayer_containers().is_empty());
}
