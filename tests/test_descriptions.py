"""Every key of the options schema is described (docs/options.schema.json, --print-schema): the
descriptions come from the constructors' and sections' docstrings (``Args:``/``Attributes:``),
parsed by ``srkit.config.doc_args``."""
import json
import os

import pytest

from conftest import ROOT
from srkit.config import Schema, class_docs, describe, doc_args, doc_without_keys, docstring, signature_model


def undescribed(node, path='#') -> tuple[list[str], int]:
    """``(paths of the properties without a non-empty description, number of properties)`` under
    ``node``: every ``properties`` mapping anywhere (``$defs``, union members, nested objects)."""
    missing, total = [], 0
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == 'properties' and isinstance(sub, dict):
                for name, prop in sub.items():
                    total += 1
                    text = prop.get('description') if isinstance(prop, dict) else None
                    if not (isinstance(text, str) and text.strip()):
                        missing.append(f'{path}/properties/{name}')
            m, t = undescribed(sub, f'{path}/{key}')
            missing += m
            total += t
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            m, t = undescribed(sub, f'{path}/{i}')
            missing += m
            total += t
    return missing, total


def _assert_all_described(schema, what):
    missing, total = undescribed(schema)
    assert total > 500, f'{what}: only {total} properties found; is this the options schema?'
    assert not missing, (f'{what}: {len(missing)} of {total} properties have no description; write the '
                         "key's line in its constructor's Args: (or the section's Attributes:):\n  "
                         + '\n  '.join(missing))


def test_every_key_in_the_shipped_schema_is_described():
    with open(os.path.join(ROOT, 'docs', 'options.schema.json')) as f:
        _assert_all_described(json.load(f), 'docs/options.schema.json')


def test_every_key_in_the_live_schema_is_described():
    from srkit.options import json_schema
    _assert_all_described(json_schema(), 'srkit.options.json_schema()')


def test_the_walk_finds_what_lacks_a_description():
    schema = {'$defs': {'A': {'properties': {'x': {'type': 'integer', 'description': 'an x'},
                                             'y': {'$ref': '#/$defs/B'}}},
                        'B': {'anyOf': [{'properties': {'z': {'description': ' '}}},
                                        {'properties': {'w': {'type': 'object',
                                                              'properties': {'v': {}}, 'description': 'w'}}}]}},
              'properties': {'top': {'description': 'the top'}}}
    missing, total = undescribed(schema)
    assert total == 6
    assert missing == ['#/$defs/A/properties/y', '#/$defs/B/anyOf/0/properties/z',
                       '#/$defs/B/anyOf/1/properties/w/properties/v']


# ------------------------------------------------------------------ the docstring parser


def test_args_in_both_forms_with_continuation_lines():
    doc = '''Summary line.

    More text that mentions name: not an item.

    Args:
        num_feat (int): trunk channels
            (default 64).
        scale: 1, 2, 4 or 8.
        betas (tuple[float | Tensor, float | Tensor], optional):
            coefficients for the running averages (default: (0.9, 0.999))
        num_in_ch, num_out_ch: image channels (3).
        *args: ignored stars.
        empty:

    Returns:
        nothing: not a key.
    '''
    assert doc_args(doc) == {
        'num_feat': 'trunk channels (default 64).',
        'scale': '1, 2, 4 or 8.',
        'betas': 'coefficients for the running averages (default: (0.9, 0.999))',
        'num_in_ch': 'image channels (3).', 'num_out_ch': 'image channels (3).',
        'args': 'ignored stars.',
    }


def test_attributes_sections_blank_lines_and_first_text_wins():
    doc = '''Attributes:
        a: first
           line.

        b: bee.
        a: a second text for a.
    Text after the section.
        c: deeper but outside any section.
    '''
    assert doc_args(doc) == {'a': 'first line.', 'b': 'bee.'}


@pytest.mark.parametrize('doc', [None, '', 'One line.', 'Summary.\n\n    Returns:\n        x: not a key.\n'])
def test_no_args_section_gives_nothing(doc):
    assert doc_args(doc) == {}


def test_templated_keys_match_and_name_what_they_matched():
    docs = doc_args('Args:\n    optim_<net>: the optimizer of network ``<net>``.\n    lr: rate.')
    assert describe('optim_g_a', docs) == 'the optimizer of network ``g_a``.'
    assert describe('lr', docs) == 'rate.'
    assert describe('optim', docs) is None and describe('nothing', docs) is None


def test_key_sections_leave_the_section_description():
    doc = 'A section.\n\n    Attributes:\n        a: the a.\n            more.\n\n    After.\n'
    assert doc_without_keys(doc) == 'A section.\n\nAfter.'


# ------------------------------------------------------------------ where descriptions come from


def test_a_constructor_documents_its_keys_in_the_class_or_init_and_its_bases():
    class Base:
        """Base.

        Args:
            weight: the weight (from the base).
        """

        def __init__(self, weight: float = 1.0):
            pass

    class Child(Base):
        """Child's summary.

        Args:
            weight: the child's own text wins.
        """

        def __init__(self, weight: float = 1.0, eps: float = 1e-3):
            """Args:
                eps: a small number.
            """

    Base.__module__ = Child.__module__ = 'srkit.fake'
    model = signature_model('ChildSpec', Child.__init__, tag='Child', doc=docstring(Child))
    fields = model.model_fields
    assert fields['weight'].description == "the child's own text wins."
    assert fields['eps'].description == 'a small number.'
    assert fields['type'].description == "Child: Child's summary."
    props = model.model_json_schema()['properties']
    assert props['eps']['description'] == 'a small number.'


def test_a_section_class_takes_its_attributes_and_its_bases():
    from pydantic import Field

    class Base(Schema):
        """Base.

        Attributes:
            a: the a.
            b: the base's b.
        """

        a: int = 1
        b: int = 2

    class Sub(Base):
        """Sub.

        Attributes:
            b: the sub's b.
        """

        c: int = Field(3, description='given by Field')
        d: int = 4

    assert class_docs(Sub) == {'b': "the sub's b.", 'a': 'the a.'}
    js = Sub.model_json_schema()
    assert js['description'] == 'Sub.'
    got = {k: v.get('description') for k, v in js['properties'].items()}
    assert got == {'a': 'the a.', 'b': "the sub's b.", 'c': 'given by Field', 'd': None}


def test_torch_optimizers_are_described_from_torch():
    from srkit.registry import OPTIMIZER_REGISTRY
    import srkit.engine.optim  # noqa: F401  (registers them)
    for name in OPTIMIZER_REGISTRY.keys():
        props = OPTIMIZER_REGISTRY.spec(name).model_json_schema()['properties']
        assert 'learning rate' in props['lr']['description'].lower(), name  # torch's and schedulefree's
