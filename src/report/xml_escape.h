// Escaping of text placed into HTML and SVG (element content and quoted attribute values).
#pragma once
#include <string>
#include <string_view>

namespace moe {

// & < > " ' become entities; bytes that are not allowed in XML 1.0 (control characters other than
// tab, newline and carriage return) become U+FFFD, so a run name or an error message can never
// break the page's markup.
std::string escape_xml(std::string_view text);

}  // namespace moe
