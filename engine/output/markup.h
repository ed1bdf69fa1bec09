// Text made safe for the markup vmmu writes: HTML pages and JUnit XML.
#pragma once

#include <string>

namespace vmmu {

// Text for HTML or XML element content and attribute values: & < > " ' as entities (the
// apostrophe as &#39;, valid in both), and the control characters XML 1.0 forbids as '?'.
std::string markup_escape(const std::string& s);
// JSON text made safe to embed in a <script> element ("</" escaped); every page uses it.
std::string script_safe_json(const std::string& json);

} // namespace vmmu
