#!/usr/bin/env bash
# The Debian package's install test, following docs/packaging.md: builds the .deb
# (scripts/package.sh), installs it with apt into a fresh Debian 12 minbase chroot, checks its files,
# the pgdual user and the unit (systemd-analyze verify), then runs the unit's ExecStart as its
# User= in the chroot, in front of two PostgreSQL servers on loopback: psql connects through it and
# a write reaches the mirror, SIGHUP reloads, SIGTERM exits cleanly. Last, apt purges the package
# and the user goes. Needs root (debootstrap, chroot) and a Debian mirror; run by scripts/test.sh.
#
# usage: scripts/package_install_test.sh [BUILD_DIR]
# BUILD_DIR, an existing build of the tree, is packed as it is (scripts/package.sh BUILD_DIR);
# without it scripts/package.sh makes a Release build in build-pkg/.
# PGDUAL_DEBIAN_MIRROR overrides the mirror, which is otherwise the first Debian one in the
# machine's apt sources.
set -euo pipefail

if ((EUID != 0)); then
  exec sudo --preserve-env=PGDUAL_DEBIAN_MIRROR "$0" "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The servers' dir (local_postgres.sh gives it to the postgres user) and the chroot apart.
workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgdual-package-test-XXXXXX")"
chroot_dir="$(mktemp -d "${TMPDIR:-/tmp}/pgdual-package-chroot-XXXXXX")"
chmod 0755 "$chroot_dir"  # its /, which the pgdual user must be able to enter
# shellcheck source=lib/local_postgres.sh
source "$root/scripts/lib/local_postgres.sh"
pgdual_pid=""

step() { echo "package_install_test: $*"; }
fail() {
  echo "package_install_test: FAILED: $*" >&2
  [[ ! -f "$workdir/pgdual.log" ]] || { echo "--- pgdual's output:" >&2; cat "$workdir/pgdual.log" >&2; }
  exit 1
}

cleanup() {
  trap - EXIT
  if [[ -n "$pgdual_pid" ]] && kill -0 "$pgdual_pid" 2>/dev/null; then
    kill -KILL "$pgdual_pid"
    wait "$pgdual_pid" || true
  fi
  stop_local_postgres
  ! mountpoint -q "$chroot_dir/proc" || umount "$chroot_dir/proc"
  # Never delete through a mount still in place.
  mountpoint -q "$chroot_dir/proc" || rm -rf "$chroot_dir"
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_chroot() { chroot "$chroot_dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

debian_mirror() {
  if [[ -n "${PGDUAL_DEBIAN_MIRROR:-}" ]]; then
    echo "$PGDUAL_DEBIAN_MIRROR"
    return
  fi
  local mirror
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' | awk '{print $2}' | head -n1)" || true
  echo "${mirror:-http://deb.debian.org/debian}"
}

step "building the package"
deb="$("$root/scripts/package.sh" "$@" | tail -n1)"
[[ -f "$deb" ]] || fail "scripts/package.sh printed no package"

mirror="$(debian_mirror)"
step "debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$chroot_dir" "$mirror" >"$workdir/debootstrap.log" 2>&1 ||
  { cat "$workdir/debootstrap.log" >&2; fail "debootstrap failed"; }
cat >"$chroot_dir/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/}-security bookworm-security main
SOURCES
mount -t proc proc "$chroot_dir/proc"
cp "$deb" "$chroot_dir/tmp/"

# systemd first, as on a server: `systemd-analyze verify --root` checks the unit against it.
step "apt-get install systemd, then ./$(basename "$deb"), in the chroot"
{ in_chroot apt-get update -qq &&
  in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd &&
  in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")"; } \
  >"$workdir/apt.log" 2>&1 || { cat "$workdir/apt.log" >&2; fail "installing the package failed"; }

step "checking the installed files, the pgdual user and the unit"
for file in /usr/bin/pgdual /lib/systemd/system/pgdual.service /etc/pgdual/pgdual.toml \
  /usr/share/doc/pgdual/README.md /usr/share/doc/pgdual/pgdual.example.toml /usr/share/doc/pgdual/docs/packaging.md; do
  [[ -f "$chroot_dir$file" ]] || fail "$file is not installed"
done
in_chroot dpkg-query --show --showformat='${Conffiles}\n' pgdual | grep -q '^ /etc/pgdual/pgdual.toml ' ||
  fail "/etc/pgdual/pgdual.toml is not a conffile"
depends="$(in_chroot dpkg-query --show --showformat='${Depends}' pgdual)"
for library in libpq5 libssl3 libspdlog libpg-query adduser procps; do
  [[ "$depends" == *"$library"* ]] || fail "Depends lacks $library: $depends"
done
in_chroot /usr/bin/pgdual --version >/dev/null || fail "the installed pgdual does not run (a library missing from Depends?)"
IFS=: read -r _ _ pgdual_uid pgdual_gid _ home shell < <(in_chroot getent passwd pgdual) || fail "no pgdual user"
((pgdual_uid < 1000)) || fail "pgdual is not a system user (uid $pgdual_uid)"
[[ "$shell" == */nologin || "$shell" == /bin/false ]] || fail "the pgdual user has a login shell: $shell"
[[ "$home" == /var/lib/pgdual ]] || fail "the pgdual user's home is $home"
[[ "$(stat -c '%u:%g %a' "$chroot_dir/var/lib/pgdual")" == "$pgdual_uid:$pgdual_gid 750" ]] ||
  fail "/var/lib/pgdual is not pgdual's with mode 0750"
[[ "$(stat -c '%u:%g %a' "$chroot_dir/etc/pgdual" "$chroot_dir/etc/pgdual/pgdual.toml" | tr '\n' ' ')" == \
  "0:$pgdual_gid 750 0:$pgdual_gid 640 " ]] || fail "/etc/pgdual and its pgdual.toml are not root:pgdual 0750 and 0640"
unit="$chroot_dir/lib/systemd/system/pgdual.service"
for line in 'ExecStart=/usr/bin/pgdual serve --config /etc/pgdual/pgdual.toml' 'ExecReload=/bin/kill -HUP $MAINPID' \
  'Restart=on-failure' 'User=pgdual' 'Group=pgdual' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'StateDirectory=pgdual'; do
  grep -qxF "$line" "$unit" || fail "the unit lacks $line"
done
[[ ! -e "$chroot_dir/etc/systemd/system/multi-user.target.wants/pgdual.service" ]] ||
  fail "the package enabled the unit; the administrator enables it once the config is set"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --root="$chroot_dir" pgdual.service >"$workdir/verify.log" 2>&1 ||
    { cat "$workdir/verify.log" >&2; fail "systemd-analyze verify found problems in the unit"; }
else
  step "systemd-analyze is not installed here: the unit is not verified"
fi

step "starting two PostgreSQL servers on loopback and configuring pgdual as docs/packaging.md says"
superuser_password="$(random_secret)" app_password="$(random_secret)" mirror_password="$(random_secret)"
onprem_port="$(free_port)" cloud_port="$(free_port)" proxy_port="$(free_port)"
for backend in onprem:"$onprem_port" cloud:"$cloud_port"; do
  start_local_postgres "${backend%%:*}" "${backend#*:}" "$superuser_password" "wal_level = logical"
  PGPASSWORD="$superuser_password" psql_on "${backend#*:}" -v password="$app_password" -v mirror_password="$mirror_password" <<'SQL'
CREATE ROLE app LOGIN PASSWORD :'password';
CREATE ROLE pgdual_mirror LOGIN SUPERUSER REPLICATION PASSWORD :'mirror_password';
CREATE DATABASE app OWNER app;
GRANT SET ON PARAMETER session_replication_role TO app;
SQL
done
etc="$chroot_dir/etc/pgdual"
# The shipped file with the servers set: its first port is onprem's, its second cloud's.
sed -e "0,/^port = 5432$/s//port = $onprem_port/" -e "s/^port = 5432$/port = $cloud_port/" \
  -e 's/^host = "db.cloud.example.com"$/host = "127.0.0.1"/' "$etc/pgdual.toml" >"$workdir/pgdual.toml"
cat >>"$workdir/pgdual.toml" <<CONF

[[users]]
name = "pgdual_mirror"
password_file = "/etc/pgdual/mirror.password"

[listen]
address = "127.0.0.1"
port = $proxy_port

[mirror]
replication_user = "pgdual_mirror"

[routing]
shadow_percent = 0
CONF
install -m 0640 -g "$pgdual_gid" "$workdir/pgdual.toml" "$etc/pgdual.toml"
printf '%s\n' "$app_password" | install -m 0600 -o "$pgdual_uid" -g "$pgdual_gid" /dev/stdin "$etc/app.password"
printf '%s\n' "$mirror_password" | install -m 0600 -o "$pgdual_uid" -g "$pgdual_gid" /dev/stdin "$etc/mirror.password"

# As systemd would run the unit's commands: User=, Group=, a clean environment.
as_pgdual=(chroot --userspec="$pgdual_uid:$pgdual_gid" --groups="$pgdual_gid" "$chroot_dir"
  env -i PATH=/usr/bin:/bin HOME=/var/lib/pgdual LANG=C.UTF-8)
"${as_pgdual[@]}" /usr/bin/pgdual init --config /etc/pgdual/pgdual.toml --database app --user pgdual_mirror >"$workdir/init.log" 2>&1 ||
  { cat "$workdir/init.log" >&2; fail "pgdual init failed"; }

step "running the unit's ExecStart as pgdual:pgdual (uid $pgdual_uid) in the chroot"
"${as_pgdual[@]}" /usr/bin/pgdual serve --config /etc/pgdual/pgdual.toml >"$workdir/pgdual.log" 2>&1 &
pgdual_pid=$!
wait_for_port "$proxy_port" "$pgdual_pid" || fail "pgdual did not start listening on 127.0.0.1:$proxy_port"
[[ "$(awk '/^Uid:/ {print $2}' "/proc/$pgdual_pid/status")" == "$pgdual_uid" ]] || fail "pgdual does not run as pgdual"

through_pgdual() { PGPASSWORD="$app_password" "$pg_bindir/psql" -w -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -U app -d app "$@"; }
answer="$(through_pgdual -p "$proxy_port" -c 'create table package_check (id int primary key)' \
  -c 'insert into package_check values (7)' -c 'select id from package_check' 2>&1)" ||
  fail "psql through the packaged pgdual failed: $answer"
[[ "$answer" == 7 ]] || fail "psql through pgdual read $answer, not 7"
answer="$(through_pgdual -p "$cloud_port" -c 'select id from package_check' 2>&1)" || fail "reading cloud failed: $answer"
[[ "$answer" == 7 ]] || fail "the write through pgdual did not reach cloud: $answer"

step "SIGHUP (ExecReload) reloads the configuration"
sed -i 's/^shadow_percent = 0$/shadow_percent = 5/' "$etc/pgdual.toml"
kill -HUP "$pgdual_pid"
for _ in $(seq 100); do
  grep -q 'reloaded /etc/pgdual/pgdual.toml' "$workdir/pgdual.log" && break
  sleep 0.1
done
grep -q 'reloaded /etc/pgdual/pgdual.toml: .*shadow_percent 0 -> 5' "$workdir/pgdual.log" ||
  fail "SIGHUP did not reload the configuration"
answer="$(through_pgdual -p "$proxy_port" -c 'select count(*) from package_check' 2>&1)" ||
  fail "psql through pgdual after the reload failed: $answer"

step "SIGTERM stops it cleanly"
kill -TERM "$pgdual_pid"
status=0
wait "$pgdual_pid" || status=$?
pgdual_pid=""
((status == 0)) || fail "pgdual exited $status on SIGTERM"
grep -q 'shut down' "$workdir/pgdual.log" || fail "pgdual did not log its shutdown"
[[ "$(stat -c '%u %a' "$chroot_dir/var/lib/pgdual/conflicts.jsonl" 2>/dev/null)" == "$pgdual_uid 600" ]] ||
  fail "the conflict log is not pgdual's file in /var/lib/pgdual"

step "apt-get purge removes the package and the pgdual user"
in_chroot env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq pgdual >"$workdir/purge.log" 2>&1 ||
  { cat "$workdir/purge.log" >&2; fail "purging the package failed"; }
! in_chroot getent passwd pgdual >/dev/null || fail "the pgdual user is still there after purge"
[[ ! -e "$chroot_dir/usr/bin/pgdual" && ! -e "$chroot_dir/etc/pgdual/pgdual.toml" ]] || fail "purge left the package's files"
[[ "$(stat -c '%u' "$chroot_dir/var/lib/pgdual/conflicts.jsonl" 2>/dev/null)" == 0 ]] ||
  fail "purge did not keep the conflict log in /var/lib/pgdual, given to root"
step "passed"
