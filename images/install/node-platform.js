// Remove the packages below a node_modules folder whose package.json `os`, `cpu` or `libc`
// excludes the target, naming each: per-platform optional packages (sharp's @img/sharp-*,
// esbuild's @esbuild/*) that the package manager installed though they cannot load there.
// npm before 10 does not read `libc`, so on glibc it installs sharp's musl binaries too.
//
//   node node-platform.js NODE_MODULES OS CPU LIBC      (e.g. linux x64 glibc)
//
// Each removal is one line on stdout and in /fclayer/report/node.txt, which fclayer shows.
// The rule is npm's own (npm-install-checks): a list of values, `!value` excludes one, and a
// list with plain values allows only those. Written for every Node.js a build image may have
// (8 and later): no optional chaining, no fs.rmSync.
"use strict";
var fs = require("fs");
var path = require("path");
var report = "/fclayer/report";
var root = process.argv[2], target = { os: process.argv[3], cpu: process.argv[4], libc: process.argv[5] };

function excludes(list, value) {
  if (typeof list === "string") list = [list];
  if (!Array.isArray(list) || list.length === 0) return false;
  if (list.indexOf("!" + value) >= 0) return true;
  var allowed = list.filter(function (v) { return v.charAt(0) !== "!"; });
  return allowed.length > 0 && allowed.indexOf(value) < 0 && allowed.indexOf("any") < 0;
}

function why(meta) {
  var keys = target.os === "linux" ? ["os", "cpu", "libc"] : ["os", "cpu"];
  for (var i = 0; i < keys.length; i++) {
    var k = keys[i];
    if (excludes(meta[k], target[k])) return k + " " + [].concat(meta[k]).join(",");
  }
  return null;
}

function remove(p) {
  var st = fs.lstatSync(p);
  if (st.isDirectory()) {
    fs.readdirSync(p).forEach(function (n) { remove(path.join(p, n)); });
    fs.rmdirSync(p);
  } else {
    fs.unlinkSync(p);
  }
}

var removed = 0;
function scan(dir) {
  var names;
  try { names = fs.readdirSync(dir); } catch (e) { return; }
  names.forEach(function (name) {
    var p = path.join(dir, name);
    if (name === ".bin" || fs.lstatSync(p).isSymbolicLink() || !fs.lstatSync(p).isDirectory()) return;
    if (name.charAt(0) === "@" || name === ".pnpm") { scan(p); return; }
    var pj = path.join(p, "package.json"), meta = null;
    try { meta = JSON.parse(fs.readFileSync(pj, "utf8")); } catch (e) { meta = null; }
    var reason = meta && why(meta);
    if (reason) {
      var line = "removed " + meta.name + " " + meta.version + " (" + reason + ": not for " +
        target.os + "/" + target.cpu + " " + target.libc + ")";
      console.log("fclayer: " + line);
      try { fs.mkdirSync(report); } catch (e) { /* already there */ }
      fs.appendFileSync(path.join(report, "node.txt"), line + "\n");
      remove(p);
      removed++;
      return;
    }
    scan(path.join(p, "node_modules"));
  });
}

// Links left pointing at what was removed (in .bin folders, pnpm's symlinked layout).
function dropDangling(dir) {
  var names;
  try { names = fs.readdirSync(dir); } catch (e) { return; }
  names.forEach(function (name) {
    var p = path.join(dir, name), st = fs.lstatSync(p);
    if (st.isSymbolicLink()) {
      if (!fs.existsSync(p)) fs.unlinkSync(p);
    } else if (st.isDirectory()) {
      dropDangling(p);
    }
  });
}

scan(root);
if (removed > 0) dropDangling(root);
