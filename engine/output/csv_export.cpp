// Rows come from each document's runs: a run document is one run (its windows, when it has them,
// else the whole run as window "whole"); a multi-VM run has one per VM; a sweep one per run; a
// scaling study one per K; a density study one per number of VMs (with and without
// deduplication). A counter a row does not have is an empty cell.
#include "engine/output/csv_export.h"

#include <fmt/format.h>

#include <map>
#include <stdexcept>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {

struct Row {
    std::map<std::string, std::string> keys;
    std::vector<std::pair<std::string, std::string>> values;
};

std::string cell(const ojson& v) {
    if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
    if (v.is_number_float()) return fmt::format("{}", v.get<double>());
    return v.dump();
}

// Numeric and boolean leaves by dotted path (strings and lists are not counters).
void leaves(const ojson& j, const std::string& path,
            std::vector<std::pair<std::string, std::string>>& out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it)
            leaves(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
    } else if (j.is_number() || j.is_boolean()) {
        out.emplace_back(path, cell(j));
    }
}

std::string csv_quote(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) {
        if (c == '"') q += '"';
        q += c;
    }
    return q + "\"";
}

// The settings that tell rows of one table apart beyond their names: what the document's config
// says, with the defaults a document leaves unwritten (engine/output/run_report.cpp writes
// hypervisor, levels and vCPUs only when not the default).
void setting_keys(const ojson& doc, std::map<std::string, std::string>& keys) {
    const ojson& c = doc.value("config", ojson::object());
    auto text = [&](const char* key, const char* fallback) {
        if (!c.contains(key)) return std::string(fallback);
        return c[key].is_string() ? c[key].get<std::string>() : cell(c[key]);
    };
    keys["hypervisor"] = text("hypervisor", "none");
    keys["guest_levels"] = text("guest_levels", "4");
    keys["ept_levels"] = text("ept_levels", "4");
    keys["caches"] = text("caches", "1");
    keys["vcpus"] = text("vcpus", "1");
    // The window a run measured (--measure roi falls back to whole when no region was marked); a
    // study records the --measure its runs were given.
    const ojson& m =
        doc.contains("measured_window") ? doc["measured_window"] : c.value("measure", ojson());
    keys["measured_window"] = m.is_string() ? m.get<std::string>() : std::string("whole");
}

// A vmmu.run/1 document: one row per backend and window.
void run_rows(const std::string& file, const std::string& schema, const std::string& run,
              const std::string& vm, const ojson& doc, std::vector<Row>& rows) {
    // A window's backend blocks name no profile: the run's own backend block does.
    auto profile_of = [&](const std::string& backend, const ojson& block) {
        if (block.contains("profile")) return block.value("profile", "");
        const ojson& all = doc.value("backends", ojson::object());
        return all.contains(backend) ? all[backend].value("profile", "") : std::string();
    };
    auto add = [&](const std::string& window, const ojson& guest, const ojson& backends) {
        for (auto it = backends.begin(); it != backends.end(); ++it) {
            Row r;
            r.keys = {{"file", file},
                      {"schema", schema},
                      {"run", run},
                      {"vm", vm},
                      {"window", window},
                      {"backend", it.key()},
                      {"profile", profile_of(it.key(), it.value())}};
            setting_keys(doc, r.keys);
            ojson g = guest;
            if (g.is_object()) g.erase("reported");
            leaves(g, "guest", r.values);
            leaves(it.value(), "", r.values);
            rows.push_back(std::move(r));
        }
    };
    if (doc.contains("windows") && doc["windows"].is_object() && !doc["windows"].empty()) {
        for (auto it = doc["windows"].begin(); it != doc["windows"].end(); ++it)
            add(it.key(), it.value().value("guest", ojson::object()),
                it.value().value("backends", ojson::object()));
    } else {
        add("whole", doc.value("guest", ojson::object()), doc.value("backends", ojson::object()));
    }
}

std::string run_label(const ojson& doc) {
    const ojson& workload = doc.at("workload");
    std::string name = workload.value("name", "run");
    if (workload.contains("params"))
        for (auto it = workload.at("params").begin(); it != workload.at("params").end(); ++it)
            name += fmt::format(".{}={}", it.key(), it.value().dump());
    return name;
}

// Study points: one row per backend of each point.
void point_rows(const std::string& file, const std::string& schema, const std::string& run,
                const ojson& study, const ojson& point, std::vector<Row>& rows) {
    ojson shared = point;
    shared.erase("backends");
    const ojson& backends = point.at("backends");
    for (auto it = backends.begin(); it != backends.end(); ++it) {
        Row r;
        r.keys = {{"file", file},      {"schema", schema},    {"run", run},   {"vm", ""},
                  {"window", "whole"}, {"backend", it.key()}, {"profile", ""}};
        // A study's config names its hypervisor and levels; its caches and vCPUs are the defaults
        // unless it says otherwise.
        if (study.contains("config")) setting_keys(study, r.keys);
        leaves(shared, "", r.values);
        leaves(it.value(), "", r.values);
        rows.push_back(std::move(r));
    }
}

} // namespace

std::string tidy_csv(const std::vector<CsvInput>& inputs) {
    std::vector<Row> rows;
    for (auto& in : inputs) {
        // A copy: a missing key then reads as null (an error below) instead of a const lookup.
        ojson d = in.doc;
        if (!d.is_object())
            throw std::invalid_argument(fmt::format(
                "'{}': not a vmmu document (a JSON object with a \"schema\")", in.file));
        std::string schema = d.value("schema", "");
        // A document of a known schema whose structure is broken (edited, truncated by hand) is
        // bad input naming the file, not an internal error.
        try {
            if (schema == "vmmu.run/1") {
                run_rows(in.file, schema, run_label(d), "", d, rows);
            } else if (schema == "vmmu.multi/1") {
                for (size_t i = 0; i < d["vms"].size(); ++i)
                    run_rows(in.file, schema, run_label(d["vms"][i]), std::to_string(i),
                             d["vms"][i], rows);
            } else if (schema == "vmmu.sweep/1") {
                for (auto it = d["runs"].begin(); it != d["runs"].end(); ++it)
                    if (it.value()["result"].is_object())
                        run_rows(in.file, schema, it.key(), "", it.value()["result"], rows);
            } else if (schema == "vmmu.study.scaling/1") {
                for (auto& p : d["points"])
                    if (p.contains("backends"))
                        point_rows(in.file, schema,
                                   fmt::format("sessions={}", p["sessions"].dump()), d, p, rows);
            } else if (schema == "vmmu.study.density/1") {
                for (auto& p : d["points"])
                    point_rows(in.file, schema, fmt::format("vms={}", p["vms"].dump()), d, p, rows);
                if (d.contains("without_dedup"))
                    for (auto& p : d["without_dedup"]["points"])
                        point_rows(in.file, schema,
                                   fmt::format("vms={}.without_dedup", p["vms"].dump()), d, p,
                                   rows);
            } else {
                throw std::invalid_argument(fmt::format(
                    "'{}' is a {} document: vmmu export csv reads vmmu.run/1, vmmu.multi/1, "
                    "vmmu.sweep/1, vmmu.study.scaling/1 and vmmu.study.density/1",
                    in.file, schema.empty() ? "non-vmmu" : schema));
            }
        } catch (const nlohmann::json::exception& e) {
            throw std::invalid_argument(fmt::format(
                "'{}': a {} document of the wrong shape ({}): give vmmu export csv the file "
                "vmmu wrote",
                in.file, schema, e.what()));
        }
    }
    // Counter columns in order of first appearance.
    std::vector<std::string> columns;
    std::map<std::string, size_t> seen;
    for (auto& r : rows)
        for (auto& [k, _] : r.values)
            if (seen.emplace(k, columns.size()).second) columns.push_back(k);
    std::string s;
    for (size_t i = 0; i < kCsvKeyColumns.size(); ++i) s += (i ? "," : "") + kCsvKeyColumns[i];
    for (auto& c : columns) s += "," + csv_quote(c);
    s += "\n";
    for (auto& r : rows) {
        for (size_t i = 0; i < kCsvKeyColumns.size(); ++i)
            s += (i ? "," : "") + csv_quote(r.keys[kCsvKeyColumns[i]]);
        std::vector<std::string> cells(columns.size());
        for (auto& [k, v] : r.values) cells[seen[k]] = v;
        for (auto& c : cells) s += "," + c;
        s += "\n";
    }
    return s;
}

} // namespace vmmu
