"""Reads Parquet batch files with pyarrow (not the tap's writer) and prints their column types and rows as JSON.

Values keep their exact form: integers and decimals as strings (a JSON number would round past 2^53),
timestamps as RFC 3339 in UTC with microseconds, dates as ISO dates, floats as numbers.
Usage: python read-parquet.py FILE... > {"types": {column: arrow type}, "rows": [...], "files": [{rows, codecs, minmax}]}
"""
import datetime
import decimal
import json
import sys

import pyarrow.parquet as pq


def value(v):
    if isinstance(v, bool) or v is None or isinstance(v, (float, str)):
        return v
    if isinstance(v, decimal.Decimal):
        return format(v, 'f')  # plain digits with the column's scale, never 1E-10
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    if isinstance(v, datetime.date):
        return v.isoformat()
    raise TypeError(f'unexpected {type(v)}: {v!r}')


types, rows, files = {}, [], []
for path in sys.argv[1:]:
    meta = pq.ParquetFile(path).metadata
    codecs = {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)}
    table = pq.read_table(path)
    types = {f.name: str(f.type) for f in table.schema}
    chunks = [meta.row_group(g).column(c) for g in range(meta.num_row_groups) for c in range(meta.num_columns)]
    # column chunks whose min and max pyarrow takes (it ignores them without the footer's column orders)
    minmax = sorted({ch.path_in_schema for ch in chunks if ch.is_stats_set and ch.statistics.has_min_max})
    files.append({'rows': table.num_rows, 'codecs': sorted(codecs), 'minmax': minmax})
    rows += [{k: value(v) for k, v in r.items()} for r in table.to_pylist()]
json.dump({'types': types, 'rows': rows, 'files': files}, sys.stdout)
