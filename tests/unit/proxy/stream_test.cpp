// Stream's TLS switch, and the client-facing TLS context, on loopback with a certificate made here.
#include <catch2/catch.hpp>

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "config/proxy_config.h"
#include "proxy/net/stream.h"
#include "proxy/net/timeouts.h"
#include "proxy/net/tls_context.h"

namespace pgdual::proxy {
namespace {

using Catch::Matchers::Contains;

std::string pem_of(const auto& write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()), BIO_free};
  REQUIRE(write(bio.get()) == 1);
  char* data = nullptr;
  const auto size = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(size)};
}

/// A P-256 key and a self-signed certificate for "localhost", as PEM.
struct SelfSigned {
  std::string cert_pem;
  std::string key_pem;
  std::vector<std::byte> cert_der;
};

SelfSigned make_self_signed() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{EVP_EC_gen("P-256"), EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> cert{X509_new(), X509_free};
  REQUIRE((key && cert));
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX extensions;
  X509V3_set_ctx(&extensions, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &extensions, nid, value);
    X509_add_ext(cert.get(), extension, -1);
    X509_EXTENSION_free(extension);
  }
  REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
  SelfSigned made;
  made.cert_pem = pem_of([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); });
  made.key_pem = pem_of([&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert.get(), &der);
  REQUIRE(length > 0);
  made.cert_der.assign(reinterpret_cast<std::byte*>(der), reinterpret_cast<std::byte*>(der) + length);
  OPENSSL_free(der);
  return made;
}

const SelfSigned& certificate() {
  static const SelfSigned made = make_self_signed();
  return made;
}

config::TlsConfig tls_config(config::TlsMode mode = config::TlsMode::require) {
  config::TlsConfig tls;
  tls.mode = mode;
  tls.cert_pem = certificate().cert_pem;
  tls.key_pem = certificate().key_pem;
  return tls;
}

std::shared_ptr<ssl::context> client_context_trusting_the_certificate() {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->add_certificate_authority(asio::buffer(certificate().cert_pem));
  return context;
}

std::vector<std::byte> sha256_of(std::span<const std::byte> bytes) {
  std::vector<std::byte> digest(EVP_MAX_MD_SIZE);
  unsigned length = 0;
  EVP_Digest(bytes.data(), bytes.size(), reinterpret_cast<unsigned char*>(digest.data()), &length, EVP_sha256(),
             nullptr);
  digest.resize(length);
  return digest;
}

/// A server Stream and a client Stream, connected on loopback, driven by one io_context.
struct StreamPair {
  asio::io_context io;
  Stream server{tcp::socket{io}};
  Stream client{tcp::socket{io}};

  StreamPair() {
    tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    client.lowest_layer().connect(acceptor.local_endpoint());
    server = Stream{acceptor.accept()};
  }

  /// Runs both sides to completion; rethrows what either threw, the server's first.
  void run(Awaitable<void> server_side, Awaitable<void> client_side) {
    std::exception_ptr server_failure;
    std::exception_ptr client_failure;
    asio::co_spawn(io, with_timeout(std::move(server_side), std::chrono::seconds{10}),
                   [&](std::exception_ptr error) { server_failure = error; });
    asio::co_spawn(io, with_timeout(std::move(client_side), std::chrono::seconds{10}),
                   [&](std::exception_ptr error) { client_failure = error; });
    io.run();
    if (server_failure) std::rethrow_exception(server_failure);
    if (client_failure) std::rethrow_exception(client_failure);
  }
};

Awaitable<std::string> read_exactly(Stream& stream, std::size_t size) {
  std::string text(size, '\0');
  co_await asio::async_read(stream, asio::buffer(text), use_awaitable);
  co_return text;
}

}  // namespace

TEST_CASE("The client-facing TLS context is made from the configured certificate and key", "[unit][proxy]") {
  CHECK(make_client_facing_tls(tls_config()) != nullptr);
  CHECK(make_client_facing_tls(tls_config(config::TlsMode::disable)) == nullptr);

  auto garbled = tls_config();
  garbled.cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  CHECK_THROWS_WITH(make_client_facing_tls(garbled), Contains("tls.cert_file"));

  auto foreign_key = tls_config();
  foreign_key.key_pem = make_self_signed().key_pem;
  CHECK_THROWS_WITH(make_client_facing_tls(foreign_key), Contains("tls.key_file: key values mismatch"));
}

TEST_CASE("A Stream switches to TLS and carries bytes both ways", "[unit][proxy]") {
  StreamPair pair;
  std::string heard_by_server;
  std::string heard_by_client;
  pair.run(
      [&]() -> Awaitable<void> {
        co_await pair.server.accept_tls(make_client_facing_tls(tls_config()));
        heard_by_server = co_await read_exactly(pair.server, 5);
        co_await asio::async_write(pair.server, asio::buffer(std::string_view{"pong!"}), use_awaitable);
        co_await pair.server.close_gracefully();
      }(),
      [&]() -> Awaitable<void> {
        co_await pair.client.connect_tls(client_context_trusting_the_certificate(), "localhost",
                                         PeerCheck::chain_and_name);
        co_await asio::async_write(pair.client, asio::buffer(std::string_view{"ping!"}), use_awaitable);
        heard_by_client = co_await read_exactly(pair.client, 5);
      }());
  CHECK(heard_by_server == "ping!");
  CHECK(heard_by_client == "pong!");
  CHECK(pair.server.is_tls());
  CHECK(pair.client.is_tls());
}

TEST_CASE("The server's tls-server-end-point is the SHA-256 of its certificate", "[unit][proxy]") {
  StreamPair pair;
  CHECK(pair.server.tls_server_end_point().empty());
  pair.run(pair.server.accept_tls(make_client_facing_tls(tls_config())),
           pair.client.connect_tls(client_context_trusting_the_certificate(), "localhost", PeerCheck::chain));
  CHECK(pair.server.tls_server_end_point() == sha256_of(certificate().cert_der));
}

TEST_CASE("A TLS client refuses a certificate for another name, or one no root vouches for", "[unit][proxy]") {
  const auto handshake = [](std::shared_ptr<ssl::context> client_context, const std::string& name, PeerCheck check) {
    StreamPair pair;
    pair.run(
        [&]() -> Awaitable<void> {
          try {
            co_await pair.server.accept_tls(make_client_facing_tls(tls_config()));
          } catch (const boost::system::system_error&) {
            // The client's refusal ends the server's handshake too.
          }
        }(),
        pair.client.connect_tls(std::move(client_context), name, check));
  };
  CHECK_THROWS_AS(handshake(client_context_trusting_the_certificate(), "pgdual.example", PeerCheck::chain_and_name),
                  boost::system::system_error);
  const auto untrusting = std::make_shared<ssl::context>(ssl::context::tls_client);
  CHECK_THROWS_AS(handshake(untrusting, "localhost", PeerCheck::chain), boost::system::system_error);
  CHECK_NOTHROW(handshake(untrusting, "localhost", PeerCheck::none));
}

}  // namespace pgdual::proxy
