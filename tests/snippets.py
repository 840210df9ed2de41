"""Tricky Python snippets shared by the grammar tests: each stresses one corner of the grammar."""

TRICKY = {
    "str": "x = 'a\\nb' + \"it's\"",
    "ustr": "x = u'unicode'",
    "bytes": "x = b'\\x00\\xff' + b''",
    "int": "x = 0 + 12345678901234567890 + 0xff",
    "float": "x = 1.5 + 1e-300 + 1e400",
    "complex": "x = 2j + 1.5j",
    "singletons": "x = (None, True, False, ...)",
    "fstring_nested": "f\"{x!r:>{width}} {y!s} {z!a} {f'{inner}'}\"",
    "fstring_format_spec": "f'{value:{w}.{p}f}' + f'{{literal}}'",
    "match": (
        "match command:\n"
        "    case [1, 2, *rest] if rest:\n        pass\n"
        "    case {'k': v, **others}:\n        pass\n"
        "    case Point(x=0, y=py) | Point(0, py):\n        pass\n"
        "    case None | True:\n        pass\n"
        "    case str() as s:\n        pass\n"
        "    case _:\n        pass"),
    "decorators": "@property\n@functools.lru_cache(maxsize=None)\ndef f(self):\n    return 1",
    "class": "@dataclass\nclass C(Base, metaclass=Meta):\n    x: int = 0\n    (y): str",
    "lambda_defaults": "f = lambda a, b=1, *args, c, d=2, **kw: a + b",
    "arguments": "def g(a, /, b, c=3, *, d, e=5, **kw) -> None:\n    pass",
    "star_expressions": "a, *b = c\nprint(*args, **kwargs)\nx = [*a, *b]\ny = {**d, 'k': 1}",
    "empty_lists": "x = []\ny = {}\nz = ()\ndef f():\n    return",
    "optional_fields": "raise\nraise E from None\nfrom . import a\nfrom ..m import (b as c)\nimport os.path as p",
    "async": ("async def f():\n    async with a as b, c:\n        await x\n"
              "    async for i in y:\n        pass\n    return [i async for i in z]"),
    "walrus_global": "def f():\n    global g\n    nonlocal_ = 1\n    if (n := len(a)) > 10:\n        pass",
    "nonlocal": "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x += 1",
    "comprehensions": "{k: v for k, v in d.items() if v if k}\n{x for x in s}\n(y for y in t)",
    "try_star": "try:\n    pass\nexcept* ValueError as e:\n    pass\nelse:\n    pass\nfinally:\n    pass",
    "contexts": "del a[0], b.c, (d, e)\nfor (i, [j, *k]) in x:\n    pass\nwith open(f) as (a, b):\n    pass",
    "slices": "x[1:2, ::3, ...]\nx[a:b:c] = y[:]",
    "compare_chain": "a < b <= c != d is not e not in f",
    "yield": "def f():\n    yield\n    yield x\n    y = yield from z",
    "docstring": "def f():\n    '''doc'''\n    return 1",
    "unicode": "s = 'naïve — ✓'",
}
