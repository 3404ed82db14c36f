#include "tests/integration/harness/test_ca.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kOpensslTimeout = 60s;
constexpr const char* kValidDays = "30";

// What the server certificate is for: both names a test may connect to.
constexpr const char* kServerExtensions =
    "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n";

void openssl(const std::vector<std::string>& arguments, const std::filesystem::path& dir) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  ProcessOptions options;
  options.working_dir = dir;
  const auto result = run(argv, options, kOpensslTimeout);
  if (result.exit_code != 0 || result.timed_out) {
    throw std::runtime_error("openssl " + arguments.front() + " failed in " + dir.string() + ": " + result.describe());
  }
}

// `arguments`, then the options that make a new ECDSA P-256 key, unencrypted, into `key_file`.
std::vector<std::string> with_new_key(std::vector<std::string> arguments, const std::string& key_file) {
  for (const auto* option : {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout"}) {
    arguments.emplace_back(option);
  }
  arguments.push_back(key_file);
  return arguments;
}

// A self-signed CA certificate NAME.crt with its key NAME.key, in `dir`.
void make_root(const std::filesystem::path& dir, const std::string& name, const std::string& common_name) {
  openssl(with_new_key({"req", "-x509", "-new", "-subj", "/CN=" + common_name, "-days", kValidDays, "-addext",
                        "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                        "-out", name + ".crt"},
                       name + ".key"),
          dir);
}

// server.crt and server.key, signed by root.crt's key.
void make_server(const std::filesystem::path& dir) {
  openssl(with_new_key({"req", "-new", "-subj", "/CN=localhost", "-out", "server.csr"}, "server.key"), dir);
  write_file(dir / "server.ext", kServerExtensions);
  openssl({"x509", "-req", "-in", "server.csr", "-CA", "root.crt", "-CAkey", "root.key", "-set_serial", "2", "-days",
           kValidDays, "-extfile", "server.ext", "-out", "server.crt"},
          dir);
}

// Owns the directory, so the files go when the binary exits.
struct MadeCa {
  TempDir dir{"pgdual-test-ca"};
  TestCa files;

  MadeCa() {
    make_root(dir.path(), "root", "pgdual test root CA");
    make_root(dir.path(), "unrelated", "pgdual unrelated test root CA");
    make_server(dir.path());
    for (const auto* key : {"root.key", "unrelated.key", "server.key"}) {
      std::filesystem::permissions(dir.path() / key,
                                   std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                   std::filesystem::perm_options::replace);
    }
    files = TestCa{.root_cert = dir.path() / "root.crt",
                   .server_cert = dir.path() / "server.crt",
                   .server_key = dir.path() / "server.key",
                   .unrelated_root_cert = dir.path() / "unrelated.crt"};
  }
};

}  // namespace

const TestCa& test_ca() {
  static const MadeCa made;
  return made.files;
}

}  // namespace pgdual::test
