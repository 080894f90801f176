"""Request body parsers: DRF's JSON parser, stricter.

- JSON nested deeper than Python's decoder can follow is a 400, not a 500.
- An object that repeats a key is a 400 naming the key (ticketai.storable.unique_keys).
"""

import codecs
import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils.json import strict_constant

from ticketai.storable import unique_keys


class JSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            return json.load(
                codecs.getreader(encoding)(stream),
                parse_constant=strict_constant,  # NaN and Infinity are not JSON
                object_pairs_hook=unique_keys,
            )
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep") from None
        except ValueError as e:  # also a repeated key (DuplicateKey) and bytes that are not UTF-8
            raise ParseError(f"JSON parse error - {e}") from None
