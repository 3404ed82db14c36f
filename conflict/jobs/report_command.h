#pragma once

#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual conflicts report --log FILE [--since T] [--until T] [--kind K]
/// [--table T] [--status open|resolved] [--format text|json|csv|html] [--out FILE]`
/// (`args` are the words after "report").
///
/// Reads FILE's rotated siblings, oldest first (FILE.N … FILE.1), then FILE,
/// checking the hash chain across all of them, and prints the report
/// (report.h, report_render.h) to stdout or to a new file of mode 0600.
/// Messages never quote a record. Returns the process exit code:
///   0  the chain is intact and the report was written;
///   1  a file could not be read or written, or an intact record could not be read;
///   2  bad arguments (the message names the option);
///   3  the chain is broken: stderr names the file and line of the first bad
///      record, and the report, covering only the records before it, is still written.
/// --help or -h anywhere prints report_help() to stdout, and returns 0.
int run_report_command(std::span<char*> args);

/// `pgdual conflicts report --help`: its usage and what each option means.
[[nodiscard]] CommandHelp report_help();

}  // namespace pgdual::jobs
