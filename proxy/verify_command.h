#pragma once

#include <cstdio>
#include <span>

namespace pgdual::proxy {

/// `pgdual verify --config FILE --database NAME [--user NAME] [--table T…] [--chunk-rows N]`
/// (`args` are the words after "verify"): proves database NAME identical on both backends, or
/// names what differs (docs/verify.md).
///
/// Connects to the primary and the mirror as the user (the first configured one unless --user),
/// compares the schemas of every application table (or of each T), their row counts, and md5
/// checksums the servers compute over ranges of N primary key values (default 10000), narrowing
/// differing ranges down to keys; tables without a primary key get one hash over all rows. Then
/// the sequences' positions. Each table is read in one snapshot per backend. Memory stays bounded
/// by N and the catalogs, whatever the tables' sizes.
///
/// Prints to `out` as it goes: primary key values of differing rows, never other row values.
/// Returns the process exit code:
///   0  identical;
///   1  something differs, or a table could not be compared (its error is printed);
///   2  bad arguments, an unreadable configuration, an unknown user or table, or a backend that
///      could not be reached or read (the message, on `err`, names it): nothing was verified.
int run_verify_command(std::span<char*> args, std::FILE* out = stdout, std::FILE* err = stderr);

}  // namespace pgdual::proxy
