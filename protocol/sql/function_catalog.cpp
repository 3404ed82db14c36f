#include "protocol/sql/function_catalog.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace pgdual::sql {
namespace {

// Trait bits of the built-in table.
constexpr std::uint8_t kReadOnly = 1;
constexpr std::uint8_t kVolatileValue = 2;
constexpr std::uint8_t kServerSpecific = 4;

constexpr std::uint8_t R = kReadOnly;
constexpr std::uint8_t RV = kReadOnly | kVolatileValue;
constexpr std::uint8_t RS = kReadOnly | kServerSpecific;
constexpr std::uint8_t RVS = kReadOnly | kVolatileValue | kServerSpecific;

struct BuiltinFunction {
  std::string_view name;
  std::uint8_t traits;
};

// The one list of built-in functions the classifier knows. A function missing
// here is unknown, which makes the statement calling it a write: that is the
// safe side, so an entry needs a reason. Writes need no entry unless they have
// another trait (nextval's value is volatile; pg_try_advisory_lock's is
// server-specific): setval, set_config, pg_notify, pg_advisory_lock*, lo_*,
// pg_terminate_backend, dblink... are writes by being absent. So are functions
// that run SQL given as text (query_to_xml, ts_rewrite with a query, ts_stat),
// since that SQL may call anything.
//
// COALESCE, NULLIF, GREATEST, LEAST, CASE, ARRAY[], ROW(), the XML constructors
// and CURRENT_DATE & co. are their own parse nodes, not function calls, and
// need no entry.
constexpr std::array kBuiltinFunctions = std::to_array<BuiltinFunction>({
    // Aggregates and window functions.
    {"array_agg", R}, {"avg", R}, {"bit_and", R}, {"bit_or", R}, {"bit_xor", R},
    {"bool_and", R}, {"bool_or", R}, {"corr", R}, {"count", R}, {"covar_pop", R},
    {"covar_samp", R}, {"cume_dist", R}, {"dense_rank", R}, {"every", R},
    {"first_value", R}, {"json_agg", R}, {"json_object_agg", R}, {"jsonb_agg", R},
    {"jsonb_object_agg", R}, {"lag", R}, {"last_value", R}, {"lead", R}, {"max", R},
    {"min", R}, {"mode", R}, {"nth_value", R}, {"ntile", R}, {"percent_rank", R},
    {"percentile_cont", R}, {"percentile_disc", R}, {"range_agg", R},
    {"range_intersect_agg", R}, {"rank", R}, {"regr_avgx", R}, {"regr_avgy", R},
    {"regr_count", R}, {"regr_intercept", R}, {"regr_r2", R}, {"regr_slope", R},
    {"regr_sxx", R}, {"regr_sxy", R}, {"regr_syy", R}, {"row_number", R},
    {"stddev", R}, {"stddev_pop", R}, {"stddev_samp", R}, {"string_agg", R},
    {"sum", R}, {"var_pop", R}, {"var_samp", R}, {"variance", R}, {"xmlagg", R},
    // Mathematics.
    {"abs", R}, {"acos", R}, {"acosd", R}, {"acosh", R}, {"asin", R}, {"asind", R},
    {"asinh", R}, {"atan", R}, {"atan2", R}, {"atan2d", R}, {"atand", R}, {"atanh", R},
    {"cbrt", R}, {"ceil", R}, {"ceiling", R}, {"cos", R}, {"cosd", R}, {"cosh", R},
    {"cot", R}, {"cotd", R}, {"degrees", R}, {"div", R}, {"exp", R}, {"factorial", R},
    {"floor", R}, {"gcd", R}, {"lcm", R}, {"ln", R}, {"log", R}, {"log10", R},
    {"min_scale", R}, {"mod", R}, {"pi", R}, {"power", R}, {"radians", R},
    {"random", RV}, {"round", R}, {"scale", R}, {"sign", R}, {"sin", R}, {"sind", R},
    {"sinh", R}, {"sqrt", R}, {"tan", R}, {"tand", R}, {"tanh", R}, {"trim_scale", R},
    {"trunc", R}, {"width_bucket", R},
    // Strings and binary strings (SUBSTRING, POSITION, TRIM, OVERLAY, NORMALIZE
    // and SIMILAR TO parse as pg_catalog.substring(...) and so on).
    {"ascii", R}, {"bit_count", R}, {"bit_length", R}, {"btrim", R},
    {"char_length", R}, {"character_length", R}, {"chr", R}, {"concat", R},
    {"concat_ws", R}, {"convert", R}, {"convert_from", R}, {"convert_to", R},
    {"decode", R}, {"encode", R}, {"format", R}, {"get_bit", R}, {"get_byte", R},
    {"initcap", R}, {"is_normalized", R}, {"left", R}, {"length", R}, {"lower", R},
    {"lpad", R}, {"ltrim", R}, {"md5", R}, {"normalize", R}, {"octet_length", R},
    {"overlay", R}, {"position", R}, {"quote_ident", R}, {"quote_literal", R},
    {"quote_nullable", R}, {"regexp_count", R}, {"regexp_instr", R},
    {"regexp_like", R}, {"regexp_match", R}, {"regexp_matches", R},
    {"regexp_replace", R}, {"regexp_split_to_array", R},
    {"regexp_split_to_table", R}, {"regexp_substr", R}, {"repeat", R},
    {"replace", R}, {"reverse", R}, {"right", R}, {"rpad", R}, {"rtrim", R},
    {"set_bit", R}, {"set_byte", R}, {"sha224", R}, {"sha256", R}, {"sha384", R},
    {"sha512", R}, {"similar_to_escape", R}, {"split_part", R}, {"starts_with", R},
    {"string_to_array", R}, {"string_to_table", R}, {"strpos", R}, {"substr", R},
    {"substring", R}, {"to_ascii", R}, {"to_hex", R}, {"translate", R},
    {"unistr", R}, {"upper", R},
    // Formatting, and conversions written as function calls (date(ts), int4(x)).
    {"bool", R}, {"date", R}, {"float4", R}, {"float8", R}, {"int2", R}, {"int4", R},
    {"int8", R}, {"interval", R}, {"numeric", R}, {"text", R}, {"time", R},
    {"timestamp", R}, {"timestamptz", R}, {"to_char", R}, {"to_date", R},
    {"to_number", R}, {"to_timestamp", R}, {"varchar", R},
    // Date and time. EXTRACT, AT TIME ZONE and OVERLAPS parse as calls to
    // pg_catalog.extract, timezone and overlaps. age(x) is age(current_date, x).
    {"age", RV}, {"clock_timestamp", RV}, {"date_bin", R}, {"date_part", R},
    {"date_trunc", R}, {"extract", R}, {"isfinite", R}, {"justify_days", R},
    {"justify_hours", R}, {"justify_interval", R}, {"make_date", R},
    {"make_interval", R}, {"make_time", R}, {"make_timestamp", R},
    {"make_timestamptz", R}, {"now", RV}, {"overlaps", R}, {"pg_sleep", R},
    {"pg_sleep_for", R}, {"pg_sleep_until", R}, {"statement_timestamp", RV},
    {"timeofday", RV}, {"timezone", R}, {"transaction_timestamp", RV},
    // JSON.
    {"array_to_json", R}, {"json_array_elements", R},
    {"json_array_elements_text", R}, {"json_array_length", R},
    {"json_build_array", R}, {"json_build_object", R}, {"json_each", R},
    {"json_each_text", R}, {"json_extract_path", R}, {"json_extract_path_text", R},
    {"json_object", R}, {"json_object_keys", R}, {"json_populate_record", R},
    {"json_populate_recordset", R}, {"json_strip_nulls", R}, {"json_to_record", R},
    {"json_to_recordset", R}, {"json_typeof", R}, {"jsonb_array_elements", R},
    {"jsonb_array_elements_text", R}, {"jsonb_array_length", R},
    {"jsonb_build_array", R}, {"jsonb_build_object", R}, {"jsonb_each", R},
    {"jsonb_each_text", R}, {"jsonb_extract_path", R}, {"jsonb_extract_path_text", R},
    {"jsonb_insert", R}, {"jsonb_object", R}, {"jsonb_object_keys", R},
    {"jsonb_path_exists", R}, {"jsonb_path_exists_tz", R}, {"jsonb_path_match", R},
    {"jsonb_path_match_tz", R}, {"jsonb_path_query", R}, {"jsonb_path_query_array", R},
    {"jsonb_path_query_array_tz", R}, {"jsonb_path_query_first", R},
    {"jsonb_path_query_first_tz", R}, {"jsonb_path_query_tz", R},
    {"jsonb_populate_record", R}, {"jsonb_populate_recordset", R},
    {"jsonb_pretty", R}, {"jsonb_set", R}, {"jsonb_set_lax", R},
    {"jsonb_strip_nulls", R}, {"jsonb_to_record", R}, {"jsonb_to_recordset", R},
    {"jsonb_typeof", R}, {"row_to_json", R}, {"to_json", R}, {"to_jsonb", R},
    // Arrays, ranges and set-returning helpers.
    {"array_append", R}, {"array_cat", R}, {"array_dims", R}, {"array_fill", R},
    {"array_length", R}, {"array_lower", R}, {"array_ndims", R},
    {"array_position", R}, {"array_positions", R}, {"array_prepend", R},
    {"array_remove", R}, {"array_replace", R}, {"array_to_string", R},
    {"array_upper", R}, {"cardinality", R}, {"daterange", R}, {"generate_series", R},
    {"generate_subscripts", R}, {"int4range", R}, {"int8range", R}, {"isempty", R},
    {"lower_inc", R}, {"lower_inf", R}, {"numrange", R}, {"range_merge", R},
    {"trim_array", R}, {"tsrange", R}, {"tstzrange", R}, {"unnest", R},
    {"upper_inc", R}, {"upper_inf", R},
    // Text search, network addresses, UUIDs (uuid_generate_* come from the
    // uuid-ossp extension, listed for their volatile values), XML, and the rest.
    {"abbrev", R}, {"array_to_tsvector", R}, {"broadcast", R}, {"family", R},
    {"gen_random_uuid", RV}, {"host", R}, {"hostmask", R}, {"inet_merge", R},
    {"inet_same_family", R}, {"masklen", R}, {"netmask", R}, {"network", R},
    {"num_nonnulls", R}, {"num_nulls", R}, {"numnode", R}, {"pg_client_encoding", R},
    {"pg_size_bytes", R}, {"pg_size_pretty", R}, {"pg_typeof", R},
    {"phraseto_tsquery", R}, {"plainto_tsquery", R}, {"querytree", R},
    {"set_masklen", R}, {"setweight", R}, {"strip", R}, {"to_tsquery", R},
    {"to_tsvector", R}, {"ts_headline", R}, {"ts_rank", R}, {"ts_rank_cd", R},
    {"tsvector_to_array", R}, {"uuid_generate_v1", RV}, {"uuid_generate_v1mc", RV},
    {"uuid_generate_v4", RV}, {"websearch_to_tsquery", R}, {"xml_is_well_formed", R},
    {"xml_is_well_formed_content", R}, {"xml_is_well_formed_document", R},
    {"xmlexists", R}, {"xpath", R}, {"xpath_exists", R},
    // The session and its database, assumed to be the same on both backends:
    // pgdual runs the mirror's session as the same role, with the same settings.
    {"current_database", R}, {"current_query", R}, {"current_schema", R},
    {"current_schemas", R},
    // Sequences: nextval is a write; currval and lastval read the session's own
    // last nextval, which differs between servers whose sequences differ.
    {"currval", RVS}, {"lastval", RVS}, {"nextval", kVolatileValue},
    // Advisory locks taken without waiting: a write (the lock) whose answer
    // depends on the server. pg_advisory_lock & co. are writes by absence.
    {"pg_try_advisory_lock", kServerSpecific},
    {"pg_try_advisory_lock_shared", kServerSpecific},
    {"pg_try_advisory_xact_lock", kServerSpecific},
    {"pg_try_advisory_xact_lock_shared", kServerSpecific},
    // The server, its settings, its transactions and its sessions.
    {"current_setting", RS}, {"inet_client_addr", RS}, {"inet_client_port", RS},
    {"inet_server_addr", RS}, {"inet_server_port", RS}, {"pg_backend_pid", RS},
    {"pg_blocking_pids", RS}, {"pg_conf_load_time", RS}, {"pg_current_snapshot", RS},
    {"pg_current_wal_flush_lsn", RS}, {"pg_current_wal_insert_lsn", RS},
    {"pg_current_wal_lsn", RS}, {"pg_current_xact_id", RS},
    {"pg_current_xact_id_if_assigned", RS}, {"pg_database_size", RS},
    {"pg_indexes_size", RS}, {"pg_is_in_recovery", RS}, {"pg_jit_available", RS},
    {"pg_last_wal_receive_lsn", RS}, {"pg_last_wal_replay_lsn", RS},
    {"pg_last_xact_replay_timestamp", RVS}, {"pg_listening_channels", RS},
    {"pg_my_temp_schema", RS}, {"pg_notification_queue_usage", RS},
    {"pg_postmaster_start_time", RS}, {"pg_relation_filenode", RS},
    {"pg_relation_filepath", RS}, {"pg_relation_size", RS},
    {"pg_safe_snapshot_blocking_pids", RS}, {"pg_table_size", RS},
    {"pg_tablespace_size", RS}, {"pg_total_relation_size", RS},
    {"pg_trigger_depth", RS}, {"pg_xact_status", RS}, {"txid_current", RS},
    {"txid_current_if_assigned", RS}, {"txid_current_snapshot", RS},
    {"txid_status", RS}, {"version", RS},
    // Catalog lookups by OID or name: OIDs differ between servers (psql's \d).
    {"col_description", RS}, {"format_type", RS}, {"has_any_column_privilege", RS},
    {"has_column_privilege", RS}, {"has_database_privilege", RS},
    {"has_foreign_data_wrapper_privilege", RS}, {"has_function_privilege", RS},
    {"has_language_privilege", RS}, {"has_schema_privilege", RS},
    {"has_sequence_privilege", RS}, {"has_server_privilege", RS},
    {"has_table_privilege", RS}, {"has_tablespace_privilege", RS},
    {"has_type_privilege", RS}, {"obj_description", RS}, {"pg_char_to_encoding", RS},
    {"pg_collation_for", RS}, {"pg_collation_is_visible", RS}, {"pg_column_size", RS},
    {"pg_conversion_is_visible", RS}, {"pg_describe_object", RS},
    {"pg_encoding_to_char", RS}, {"pg_function_is_visible", RS},
    {"pg_get_constraintdef", RS}, {"pg_get_expr", RS},
    {"pg_get_function_arguments", RS}, {"pg_get_function_identity_arguments", RS},
    {"pg_get_function_result", RS}, {"pg_get_functiondef", RS},
    {"pg_get_indexdef", RS}, {"pg_get_keywords", RS}, {"pg_get_object_address", RS},
    {"pg_get_partition_constraintdef", RS}, {"pg_get_partkeydef", RS},
    {"pg_get_ruledef", RS}, {"pg_get_serial_sequence", RS},
    {"pg_get_statisticsobjdef", RS}, {"pg_get_statisticsobjdef_columns", RS},
    {"pg_get_triggerdef", RS}, {"pg_get_userbyid", RS}, {"pg_get_viewdef", RS},
    {"pg_has_role", RS}, {"pg_identify_object", RS},
    {"pg_identify_object_as_address", RS}, {"pg_opclass_is_visible", RS},
    {"pg_operator_is_visible", RS}, {"pg_opfamily_is_visible", RS},
    {"pg_options_to_table", RS}, {"pg_partition_ancestors", RS},
    {"pg_partition_root", RS}, {"pg_partition_tree", RS},
    {"pg_relation_is_publishable", RS}, {"pg_statistics_obj_is_visible", RS},
    {"pg_table_is_visible", RS}, {"pg_tablespace_location", RS},
    {"pg_ts_config_is_visible", RS}, {"pg_ts_dict_is_visible", RS},
    {"pg_ts_parser_is_visible", RS}, {"pg_ts_template_is_visible", RS},
    {"pg_type_is_visible", RS}, {"row_security_active", RS},
    {"shobj_description", RS}, {"to_regclass", RS}, {"to_regcollation", RS},
    {"to_regnamespace", RS}, {"to_regoper", RS}, {"to_regoperator", RS},
    {"to_regproc", RS}, {"to_regprocedure", RS}, {"to_regrole", RS},
    {"to_regtype", RS},
});

// Families too large to list: the statistics accessors behind pg_stat_* views.
constexpr std::array kBuiltinPrefixes = std::to_array<BuiltinFunction>({
    {"pg_stat_get_", RS},
});

// Built-in operator symbols. A_Expr names the operator of every binary and
// unary operator, IN (=, <>), LIKE (~~, !~~), ILIKE (~~*, !~~*), SIMILAR TO (~)
// and IS [NOT] DISTINCT FROM / NULLIF (=).
constexpr std::array kBuiltinOperators = std::to_array<std::string_view>({
    "!!", "!~", "!~*", "!~~", "!~~*", "#", "##", "#-", "#>", "#>>", "%", "&", "&&",
    "&<", "&<|", "&>", "*", "+", "-", "-|-", "->", "->>", "/", "<", "<->", "<<",
    "<<=", "<<|", "<=", "<>", "<@", "<^", "=", ">", ">=", ">>", ">>=", ">^", "?",
    "?#", "?&", "?-", "?-|", "?|", "?||", "@", "@-@", "@>", "@?", "@@", "@@@", "^",
    "^@", "|", "|&>", "|/", "|>>", "||", "||/", "~", "~*", "~=", "~~", "~~*",
});

template <class Array, class Projection>
constexpr Array sorted(Array array, Projection projection) {
  std::ranges::sort(array, {}, projection);
  return array;
}

constexpr auto kSortedFunctions = sorted(kBuiltinFunctions, &BuiltinFunction::name);
constexpr auto kSortedOperators = sorted(kBuiltinOperators, std::identity{});

static_assert(std::ranges::adjacent_find(kSortedFunctions, {}, &BuiltinFunction::name) ==
                  kSortedFunctions.end(),
              "a function is listed twice");
static_assert(std::ranges::adjacent_find(kSortedOperators) == kSortedOperators.end(),
              "an operator is listed twice");

constexpr std::string_view kSystemSchema = "pg_catalog";

FunctionTraits traits_of(std::uint8_t bits) noexcept {
  return FunctionTraits{
      .read_only = (bits & kReadOnly) != 0,
      .volatile_value = (bits & kVolatileValue) != 0,
      .server_specific = (bits & kServerSpecific) != 0,
  };
}

std::optional<FunctionTraits> builtin_function(std::string_view name) noexcept {
  const auto found = std::ranges::lower_bound(kSortedFunctions, name, {}, &BuiltinFunction::name);
  if (found != kSortedFunctions.end() && found->name == name) return traits_of(found->traits);
  for (const BuiltinFunction& prefix : kBuiltinPrefixes) {
    if (name.starts_with(prefix.name)) return traits_of(prefix.traits);
  }
  return std::nullopt;
}

// The built-in name a qualified name refers to: the name itself when it is
// unqualified or qualified with pg_catalog; empty for any other schema.
std::string_view builtin_name(std::span<const std::string_view> name) noexcept {
  if (name.size() == 1) return name[0];
  if (name.size() == 2 && name[0] == kSystemSchema) return name[1];
  return {};
}

std::string dotted(std::span<const std::string_view> name) {
  std::string joined;
  for (const std::string_view part : name) {
    if (!joined.empty()) joined += '.';
    joined += part;
  }
  return joined;
}

}  // namespace

FunctionCatalog::FunctionCatalog(std::vector<std::string> extra_read_only)
    : extra_read_only_(std::move(extra_read_only)) {
  std::ranges::sort(extra_read_only_);
}

std::optional<FunctionTraits> FunctionCatalog::function(
    std::span<const std::string_view> name) const {
  if (const std::string_view builtin = builtin_name(name); !builtin.empty()) {
    if (auto traits = builtin_function(builtin)) return traits;
  }
  const bool listed = name.size() == 1
                          ? std::ranges::binary_search(extra_read_only_, name[0])
                          : std::ranges::binary_search(extra_read_only_, dotted(name));
  if (listed) return FunctionTraits{.read_only = true};
  return std::nullopt;
}

bool FunctionCatalog::is_builtin_operator(std::span<const std::string_view> name) noexcept {
  const std::string_view symbol = builtin_name(name);
  return !symbol.empty() && std::ranges::binary_search(kSortedOperators, symbol);
}

}  // namespace pgdual::sql
