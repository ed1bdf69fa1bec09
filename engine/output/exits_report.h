// `vmmu demo exits` as a table and as the vmmu.demo.exits/1 document (what is shown:
// engine/experiment/exits_demo.h).
#pragma once

#include "engine/experiment/exits_demo.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vmmu {

std::string exits_demo_text(const ExitsDemo& d);
// What an exit's address is, by reason: "gVA", "gPA", "CR3", "port" or "-".
std::string exit_address_kind(const std::string& reason);
// The terms the demos use (fill, unsync, resync, pf_hidden, PWC, NTLB, ...), for --explain.
std::string demo_glossary();
nlohmann::ordered_json exits_demo_json(const ExitsDemo& d); // vmmu.demo.exits/1
nlohmann::ordered_json exits_page_json(const ExitsPage& p); // vmmu.demo.exits_page/1
// The page: self-contained and offline (inline script and style, a content-security policy
// forbidding every request), the document above embedded as JSON and never recomputed.
std::string exits_page_html(const ExitsPage& p);

} // namespace vmmu
