// The four renderings of a ComparisonReport. Text keeps the console format `vmmu compare` always
// printed; the others are for CI: a Markdown step summary, JUnit XML for test reporters (the
// elements and attributes the Ant/Jenkins JUnit schema requires), and vmmu.compare/1 JSON.
#include "engine/output/compare_report.h"
#include "engine/output/markup.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <stdexcept>
#include <unistd.h>
#include <vector>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {

// Six significant digits: a one-count change in a billion still shows (+1e-07).
std::string delta_text(const ValueChange& c) {
    return !c.delta_pct               ? "-"
           : std::isinf(*c.delta_pct) ? (*c.delta_pct > 0 ? "+inf" : "-inf")
                                      : fmt::format("{:+.6g}", *c.delta_pct);
}

std::string plural(uint64_t n, const char* one, const char* many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string kind_title(const ComparisonReport& r) {
    return r.kind == ComparisonReport::Kind::Baseline ? "vmmu baseline check" : "vmmu compare";
}

// The run a value belongs to: the file's name, and the run inside it for sweeps and multi-VM runs.
std::string run_of(const FileComparison& f, const ValuePlace& p) {
    return p.run.empty() ? f.name : f.name + "/" + p.run;
}

// The testcase: backend and group, in its window when the run has windows ("roi: slat.walks").
std::string case_of(const ValuePlace& p) {
    std::string c = p.backend.empty() ? p.group : p.backend + "." + p.group;
    return p.window.empty() ? c : p.window + ": " + c;
}

std::string md_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '|') out += '\\';
        out += c;
    }
    return out;
}

std::string verdict_line(const ComparisonReport& r) {
    uint64_t files = r.files.size(), failed = r.failed_files();
    const char* unit = r.kind == ComparisonReport::Kind::Baseline ? "run" : "file";
    const char* units = r.kind == ComparisonReport::Kind::Baseline ? "runs" : "files";
    if (!r.failed_files() && r.failed())
        return fmt::format("**FAIL**: no value moved beyond the tolerance of {}% ({} compared "
                           "in {}), but the documents' inputs differ (--strict-provenance)",
                           r.tolerance_pct, plural(r.compared(), "value", "values"),
                           plural(files, unit, units));
    if (!r.failed())
        return fmt::format("**PASS**: no value moved beyond the tolerance of {}% ({} compared "
                           "in {})",
                           r.tolerance_pct, plural(r.compared(), "value", "values"),
                           plural(files, unit, units));
    return fmt::format("**FAIL**: {} beyond the tolerance of {}% in {} of {} ({} compared)",
                       plural(r.beyond(), "value moved", "values moved"), r.tolerance_pct, failed,
                       plural(files, unit, units), plural(r.compared(), "value", "values"));
}

// Provenance differences once each across the report ("inputs.kernel: sha256:.. -> sha256:.."),
// the run prefix of a merged document dropped: a suite of 14 runs built from one new kernel
// says so once.
struct ProvenanceNote {
    std::string key, base, now;
    bool tool_only;
};
std::vector<ProvenanceNote> provenance_notes(const ComparisonReport& r) {
    std::vector<ProvenanceNote> out;
    for (auto& f : r.files)
        for (auto& d : f.provenance) {
            auto at = d.key.rfind("provenance.");
            std::string key = at == std::string::npos ? d.key : d.key.substr(at + 11);
            bool seen = std::any_of(out.begin(), out.end(), [&](const ProvenanceNote& n) {
                return n.key == key && n.base == d.base && n.now == d.now;
            });
            if (!seen) out.push_back({key, d.base, d.now, d.tool_only});
        }
    return out;
}

std::string provenance_text(const ComparisonReport& r) {
    std::string s;
    for (auto& n : provenance_notes(r))
        s += fmt::format("{}: provenance differs: {}: {} -> {}\n",
                         n.tool_only           ? "note"
                         : r.strict_provenance ? "error"
                                               : "warning",
                         n.key, n.base, n.now);
    if (r.provenance_failed())
        s += "provenance check FAILED (--strict-provenance): the documents were produced from "
             "different inputs\n";
    return s;
}

} // namespace

std::string change_table(const CompareResult& r, double tolerance_pct) {
    std::string s;
    if (!r.changes.empty()) {
        size_t w = 4;
        for (auto& c : r.changes) w = std::max(w, c.path.size());
        w = std::min<size_t>(w, 72);
        s += fmt::format("{:<{}}  {:>18}  {:>18}  {:>12}\n", "path", w, "old", "new", "delta %");
        for (auto& c : r.changes)
            s += fmt::format("{:<{}}  {:>18}  {:>18}  {:>12}{}\n", c.path, w, c.old_value,
                             c.new_value, delta_text(c),
                             c.beyond        ? ""
                             : c.improvement ? "  (improvement)"
                                             : "  (within tolerance)");
    }
    s += fmt::format("{} values compared, {} changed, {} beyond the tolerance of {}%\n", r.compared,
                     r.changes.size(), r.beyond(), tolerance_pct);
    return s;
}

CompareFormat parse_compare_format(const std::string& name) {
    if (name == "text") return CompareFormat::Text;
    if (name == "markdown") return CompareFormat::Markdown;
    if (name == "junit") return CompareFormat::Junit;
    if (name == "json") return CompareFormat::Json;
    throw std::invalid_argument(
        fmt::format("--format '{}': valid formats are text, markdown, junit, json", name));
}

ValuePlace place_of(const std::string& path) {
    ValuePlace p;
    std::string rest = path;
    // A merged sweep: runs.NAME.result.REST (run names hold dots: "gups.table_mib=4.penryn-2008").
    if (rest.rfind("runs.", 0) == 0) {
        auto end = rest.find(".result.");
        if (end != std::string::npos) {
            p.run = rest.substr(5, end - 5);
            rest = rest.substr(end + 8);
        }
    }
    // A multi-VM run: vms[i].REST.
    if (rest.rfind("vms[", 0) == 0) {
        auto end = rest.find("].");
        if (end != std::string::npos) {
            p.run = rest.substr(0, end + 1);
            rest = rest.substr(end + 2);
        }
    }
    // A run measured in windows: windows.NAME.REST (NAME holds no dot).
    if (rest.rfind("windows.", 0) == 0) {
        auto end = rest.find('.', 8);
        if (end != std::string::npos) {
            p.window = rest.substr(8, end - 8);
            rest = rest.substr(end + 1);
        }
    }
    auto take = [&]() {
        auto dot = rest.find('.');
        std::string head = rest.substr(0, dot);
        rest = dot == std::string::npos ? "" : rest.substr(dot + 1);
        return head;
    };
    if (rest.rfind("backends.", 0) == 0 || rest.rfind("totals.backends.", 0) == 0) {
        if (rest[0] == 't') take();
        take();
        p.backend = take();
    }
    p.group = take();
    // "schema" or "status": the whole document is the group.
    p.counter = rest.empty() ? p.group : rest;
    if (rest.empty() && p.backend.empty()) p.group = "document";
    return p;
}

std::string comparison_text(const ComparisonReport& r) {
    std::string s = provenance_text(r);
    switch (r.kind) {
    case ComparisonReport::Kind::Files:
        for (auto& f : r.files) s += change_table(f.result, r.tolerance_pct);
        break;
    case ComparisonReport::Kind::Directories: {
        for (auto& f : r.files) {
            if (!f.problem.empty()) {
                s += fmt::format("== {}: {}\n", f.name, f.problem);
            } else if (!f.result.changes.empty()) {
                s += fmt::format("== {} vs {}\n", f.base, f.now);
                s += change_table(f.result, r.tolerance_pct);
            }
        }
        uint64_t beyond = r.beyond();
        s += fmt::format("{} file{} compared, {} value{} beyond the tolerance of {}%\n",
                         r.files.size(), r.files.size() == 1 ? "" : "s", beyond,
                         beyond == 1 ? "" : "s", r.tolerance_pct);
        break;
    }
    case ComparisonReport::Kind::Baseline:
        for (auto& f : r.files) {
            if (!f.problem.empty())
                s += fmt::format("== {}: {}\n", f.name, f.problem);
            else if (!f.result.changes.empty())
                s += fmt::format("== {}\n{}", f.name, change_table(f.result, r.tolerance_pct));
        }
        if (r.failed_files()) {
            s += fmt::format(
                "baseline check FAILED: {} of {} runs differ or failed (new results kept in "
                "{}).\nIf the change is intended, run '{}' and commit {} in the same commit, "
                "saying why the numbers moved.\n",
                r.failed_files(), r.runs, r.kept, r.update_hint, r.base);
        } else if (!r.provenance_failed()) {
            if (!r.kept.empty()) s += fmt::format("new results kept in {}\n", r.kept);
            s += fmt::format("baseline check ok: {} runs, {} values identical to {} (tolerance "
                             "{}%)\n",
                             r.runs, r.compared(), r.now, r.tolerance_pct);
        }
        break;
    }
    return s;
}

std::string comparison_markdown(const ComparisonReport& r) {
    std::string s = fmt::format("## {}: {}\n\n{}\n", kind_title(r), r.failed() ? "FAIL" : "pass",
                                verdict_line(r));
    auto notes = provenance_notes(r);
    if (!notes.empty()) {
        s += fmt::format("\n{}: the documents' provenance differs{}\n\n",
                         r.provenance_failed() ? "**FAIL** (--strict-provenance)" : "**Note**",
                         std::any_of(notes.begin(), notes.end(),
                                     [](const ProvenanceNote& n) { return !n.tool_only; })
                             ? " (different inputs: values may move for that reason alone)"
                             : " (vmmu version only)");
        for (auto& n : notes)
            s += fmt::format("- `{}`: `{}` → `{}`\n", md_escape(n.key), md_escape(n.base),
                             md_escape(n.now));
    }
    for (auto& f : r.files) {
        if (!f.problem.empty()) {
            s += fmt::format("\n### `{}`\n\n{}\n", f.name, md_escape(f.problem));
            continue;
        }
        if (f.result.changes.empty()) continue;
        // Grouped by run (a sweep holds several), then backend and counter in document order.
        std::map<std::string, std::vector<const ValueChange*>> by_run;
        std::vector<std::string> order;
        for (auto& c : f.result.changes) {
            std::string run = run_of(f, place_of(c.path));
            if (!by_run.count(run)) order.push_back(run);
            by_run[run].push_back(&c);
        }
        for (auto& run : order) {
            auto& changes = by_run[run];
            uint64_t beyond = std::count_if(changes.begin(), changes.end(),
                                            [](const ValueChange* c) { return c->beyond; });
            s += fmt::format("\n### `{}`: {}, {}\n\n", run,
                             plural(changes.size(), "value changed", "values changed"),
                             plural(beyond, "beyond the tolerance", "beyond the tolerance"));
            s += "| backend | counter | old | new | delta % | |\n";
            s += "| --- | --- | ---: | ---: | ---: | --- |\n";
            for (auto* c : changes) {
                ValuePlace p = place_of(c->path);
                std::string counter = p.group == "document" ? p.counter : p.group + "." + p.counter;
                if (!p.window.empty()) counter = p.window + ": " + counter;
                s += fmt::format("| {} | `{}` | {} | {} | {} | {} |\n",
                                 p.backend.empty() ? "-" : p.backend, md_escape(counter),
                                 md_escape(c->old_value), md_escape(c->new_value), delta_text(*c),
                                 c->beyond        ? "moved"
                                 : c->improvement ? "improvement"
                                                  : "within tolerance");
            }
        }
    }
    return s;
}

std::string comparison_junit(const ComparisonReport& r, const std::string& timestamp,
                             const std::string& hostname) {
    struct Case {
        std::vector<const ValueChange*> moved;
        uint64_t values = 0;
        std::string note; // the provenance case: its differences
        bool note_fails = false;
    };
    struct Suite {
        std::string name, problem;
        std::vector<std::string> case_order;
        std::map<std::string, Case> cases;
    };
    std::vector<Suite> suites;
    for (auto& f : r.files) {
        if (!f.problem.empty()) {
            suites.push_back({f.name, f.problem, {"document"}, {{"document", {}}}});
            continue;
        }
        std::map<std::string, size_t> index;
        auto suite_for = [&](const std::string& run) -> Suite& {
            auto it = index.find(run);
            if (it != index.end()) return suites[it->second];
            index[run] = suites.size();
            suites.push_back({run, "", {}, {}});
            return suites.back();
        };
        auto case_for = [&](Suite& s, const std::string& name) -> Case& {
            if (!s.cases.count(name)) s.case_order.push_back(name);
            return s.cases[name];
        };
        for (auto& path : f.result.paths) {
            ValuePlace p = place_of(path);
            ++case_for(suite_for(run_of(f, p)), case_of(p)).values;
        }
        for (auto& c : f.result.changes)
            if (c.beyond) {
                ValuePlace p = place_of(c.path);
                case_for(suite_for(run_of(f, p)), case_of(p)).moved.push_back(&c);
            }
        if (f.result.paths.empty()) suite_for(f.name); // an empty document is still a run
        if (!f.provenance.empty()) {
            Case& c = case_for(suite_for(f.name), "provenance");
            for (auto& d : f.provenance)
                c.note += fmt::format("{}: {} -> {}\n", d.key, d.base, d.now);
            c.note_fails = r.strict_provenance && f.inputs_differ();
        }
    }
    uint64_t tests = 0, failures = 0, errors = 0;
    for (auto& s : suites) {
        tests += s.case_order.size();
        if (!s.problem.empty()) ++errors;
        for (auto& [_, c] : s.cases) failures += !c.moved.empty() || c.note_fails;
    }
    std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    x += fmt::format("<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" "
                     "time=\"0\">\n",
                     markup_escape(kind_title(r)), tests, failures, errors);
    for (size_t i = 0; i < suites.size(); ++i) {
        auto& s = suites[i];
        uint64_t f = 0;
        for (auto& [_, c] : s.cases) f += !c.moved.empty() || c.note_fails;
        x +=
            fmt::format("  <testsuite name=\"{}\" package=\"vmmu\" id=\"{}\" tests=\"{}\" "
                        "failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"0\" "
                        "timestamp=\"{}\" hostname=\"{}\">\n",
                        markup_escape(s.name), i, s.case_order.size(), f, s.problem.empty() ? 0 : 1,
                        markup_escape(timestamp), markup_escape(hostname));
        x += fmt::format("    <properties>\n      <property name=\"tolerance_pct\" value=\"{}\"/>\n"
                         "    </properties>\n",
                         r.tolerance_pct);
        for (auto& name : s.case_order) {
            const Case& c = s.cases.at(name);
            x += fmt::format("    <testcase name=\"{}\" classname=\"vmmu.{}\" time=\"0\"",
                             markup_escape(name), markup_escape(s.name));
            if (!s.problem.empty()) {
                x += fmt::format(">\n      <error message=\"{}\" type=\"NotCompared\"/>\n"
                                 "    </testcase>\n",
                                 markup_escape(s.problem));
            } else if (!c.moved.empty()) {
                std::string body;
                for (auto* m : c.moved)
                    body += fmt::format("{}: {} -> {} ({}%)\n", m->path, m->old_value, m->new_value,
                                        delta_text(*m));
                x += fmt::format(
                    ">\n      <failure message=\"{} of {} moved beyond the tolerance of {}%\" "
                    "type=\"ValuesMoved\">{}</failure>\n    </testcase>\n",
                    c.moved.size(), plural(c.values, "value", "values"), r.tolerance_pct,
                    markup_escape(body));
            } else if (c.note_fails) {
                x += fmt::format(">\n      <failure message=\"the documents were produced from "
                                 "different inputs (--strict-provenance)\" "
                                 "type=\"ProvenanceDiffers\">{}</failure>\n    </testcase>\n",
                                 markup_escape(c.note));
            } else if (!c.note.empty()) {
                x += fmt::format(">\n      <system-out>{}</system-out>\n    </testcase>\n",
                                 markup_escape(c.note));
            } else {
                x += "/>\n";
            }
        }
        x += "    <system-out/>\n    <system-err/>\n  </testsuite>\n";
    }
    x += "</testsuites>\n";
    return x;
}

std::string comparison_json(const ComparisonReport& r) {
    ojson j;
    j["schema"] = "vmmu.compare/1";
    j["kind"] = r.kind == ComparisonReport::Kind::Files         ? "files"
                : r.kind == ComparisonReport::Kind::Directories ? "directories"
                                                                : "baseline";
    j["base"] = r.base;
    j["new"] = r.now;
    j["tolerance_pct"] = r.tolerance_pct;
    j["verdict"] = r.failed() ? "fail" : "pass";
    j["compared"] = r.compared();
    j["beyond"] = r.beyond();
    j["strict_provenance"] = r.strict_provenance;
    j["provenance_failed"] = r.provenance_failed();
    ojson files = ojson::array();
    for (auto& f : r.files) {
        ojson fj = {{"name", f.name}, {"base", f.base}, {"new", f.now}};
        if (!f.problem.empty()) fj["problem"] = f.problem;
        fj["compared"] = f.result.compared;
        fj["ignored"] = f.result.ignored;
        fj["changed"] = f.result.changes.size();
        fj["beyond"] = f.result.beyond();
        ojson changes = ojson::array();
        for (auto& c : f.result.changes) {
            ValuePlace p = place_of(c.path);
            auto value = [](const std::string& text) {
                return text == "(absent)" ? ojson(nullptr) : ojson::parse(text);
            };
            ojson cj = {{"path", c.path},
                        {"run", p.run},
                        {"backend", p.backend},
                        {"group", p.group},
                        {"counter", p.counter},
                        {"window", p.window},
                        {"old", value(c.old_value)},
                        {"new", value(c.new_value)},
                        {"old_absent", c.old_value == "(absent)"},
                        {"new_absent", c.new_value == "(absent)"}};
            // JSON has no infinity: a move from 0 has no percentage.
            cj["delta_pct"] =
                c.delta_pct && std::isfinite(*c.delta_pct) ? ojson(*c.delta_pct) : ojson(nullptr);
            cj["beyond"] = c.beyond;
            cj["improvement"] = c.improvement;
            changes.push_back(std::move(cj));
        }
        fj["changes"] = std::move(changes);
        ojson prov = ojson::array();
        for (auto& d : f.provenance)
            prov.push_back(
                {{"key", d.key}, {"base", d.base}, {"new", d.now}, {"tool_only", d.tool_only}});
        fj["provenance_differences"] = std::move(prov);
        files.push_back(std::move(fj));
    }
    j["files"] = std::move(files);
    return j.dump(2) + "\n";
}

std::string format_comparison(const ComparisonReport& r, CompareFormat f) {
    switch (f) {
    case CompareFormat::Text:
        return comparison_text(r);
    case CompareFormat::Markdown:
        return comparison_markdown(r);
    case CompareFormat::Junit: {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
        return comparison_junit(r, stamp, host);
    }
    case CompareFormat::Json:
        return comparison_json(r);
    }
    return {};
}

} // namespace vmmu
