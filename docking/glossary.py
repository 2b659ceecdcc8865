"""A compact Chinese <-> English glossary of technical terms: the bridge matching uses, beside
the listings' synonym list (`listings.search.SYNONYM_GROUPS`) and IPC codes, between a need
written in one language and a listing written in the other.

Each group is one concept: its English spellings first, then its Chinese ones. Matching
expands the terms it finds in a need or a listing with the other members of their group (the
Meilisearch queries carry both languages, and the words that matched are counted once per
concept). Chinese has no spaces, so a Chinese term is found by substring; an English one by
word. Kept small on purpose: terms of the fields our records come from (membranes and water,
batteries and energy, semiconductors and computing, imaging, materials, sports equipment,
machinery), and common enough that a wrong bridge is unlikely.
"""

from __future__ import annotations

import re
from functools import cache

from listings.search import SYNONYM_GROUPS

GLOSSARY: list[list[str]] = [
    ["membrane", "membranes", "膜", "薄膜"],
    ["reverse osmosis", "反渗透"],
    ["desalination", "海水淡化", "脱盐"],
    ["filtration", "filter", "过滤"],
    ["separation", "分离"],
    ["water treatment", "水处理"],
    ["wastewater", "废水", "污水"],
    ["salt rejection", "脱盐率"],
    ["polyamide", "聚酰胺"],
    ["hollow fiber", "hollow fibre", "中空纤维"],
    ["polymer", "聚合物", "高分子"],
    ["composite", "composite material", "复合材料"],
    ["aluminum", "aluminium", "铝"],
    ["ceramic", "陶瓷"],
    ["alloy", "合金"],
    ["coating", "涂层"],
    ["catalyst", "催化剂"],
    ["nanoparticle", "nanoparticles", "纳米颗粒", "纳米粒子"],
    ["carbon fiber", "carbon fibre", "碳纤维"],
    ["lithium", "锂"],
    ["electrode", "电极"],
    ["cathode", "正极"],
    ["anode", "负极"],
    ["electrolyte", "电解质", "电解液"],
    ["fuel cell", "燃料电池"],
    ["solar", "太阳能"],
    ["energy storage", "储能"],
    ["hydrogen", "氢"],
    ["transistor", "晶体管"],
    ["integrated circuit", "集成电路"],
    ["chip", "芯片"],
    ["processor", "处理器"],
    ["memory", "存储器", "内存"],
    ["graphics", "图形"],
    ["rendering", "渲染"],
    ["neural network", "neural networks", "神经网络"],
    ["image recognition", "图像识别"],
    ["image", "images", "图像"],
    ["video", "视频"],
    ["camera", "摄像头", "相机"],
    ["sensor", "sensors", "传感器"],
    ["robot", "robots", "机器人"],
    ["autonomous driving", "self-driving", "自动驾驶"],
    ["vehicle", "vehicles", "车辆"],
    ["wireless", "无线"],
    ["antenna", "天线"],
    ["communication", "通信"],
    ["network", "网络"],
    ["encryption", "加密"],
    ["algorithm", "算法"],
    ["database", "数据库"],
    ["software", "软件"],
    ["laser", "激光"],
    ["optical fiber", "optical fibre", "光纤"],
    ["spectrometer", "光谱仪"],
    ["ultrasound", "ultrasonic", "超声"],
    ["medical device", "医疗器械"],
    ["vaccine", "疫苗"],
    ["antibody", "抗体"],
    ["drug", "药物"],
    ["motor", "电机", "电动机"],
    ["engine", "发动机"],
    ["bearing", "轴承"],
    ["gear", "齿轮"],
    ["valve", "阀门"],
    ["pump", "泵"],
    ["welding", "焊接"],
    ["casting", "铸造"],
    ["heat exchanger", "换热器"],
    ["cooling", "冷却"],
    ["fan", "风扇"],
    ["dust removal", "除尘"],
    ["textile", "纺织"],
    ["baseball", "棒球"],
    ["bat", "球棒"],
    ["glove", "手套"],
    ["helmet", "头盔"],
    ["spacecraft", "航天器"],
    ["satellite", "卫星"],
    ["aircraft", "飞机", "飞行器"],
]

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


@cache
def groups() -> tuple[tuple[str, ...], ...]:
    """Every concept group: the listings' synonym groups and the glossary's."""
    return tuple(tuple(t.lower() for t in g) for g in [*SYNONYM_GROUPS, *GLOSSARY])


@cache
def _by_term() -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {}
    for n, group in enumerate(groups()):
        for term in group:
            found.setdefault(term, []).append(n)
    return {term: tuple(ns) for term, ns in found.items()}


def tokens(text: str) -> list[str]:
    """The English words of a text, lower-cased (Chinese is matched by substring)."""
    return _WORD.findall(text.lower())


def concepts_in(text: str) -> set[int]:
    """The glossary concepts a text names, in either language: an English word by word, an
    English phrase or a Chinese term by substring (so 铝基 finds aluminium, and 薄膜 both
    membrane entries: the synonym list and the glossary each have one)."""
    lowered = text.lower()
    words = set(tokens(lowered))
    found: set[int] = set()
    for term in words & _singles().keys():
        found.update(_singles()[term])
    for term, ns in _phrases().items():
        if term in lowered:
            found.update(ns)
    if has_han(lowered):
        for term, ns in _chinese().items():
            if term in lowered:
                found.update(ns)
    return found


# The terms by how they are looked for: one English word (a set lookup), an English phrase
# or a Chinese term (a substring); split once, as each listing of a run is read.
@cache
def _singles() -> dict[str, tuple[int, ...]]:
    return {t: ns for t, ns in _by_term().items() if not has_han(t) and _WORD.fullmatch(t)}


@cache
def _phrases() -> dict[str, tuple[int, ...]]:
    return {t: ns for t, ns in _by_term().items() if not has_han(t) and not _WORD.fullmatch(t)}


@cache
def _chinese() -> dict[str, tuple[int, ...]]:
    return {t: ns for t, ns in _by_term().items() if has_han(t)}


def terms_of(concept: int) -> tuple[str, ...]:
    return groups()[concept]


def english(concept: int) -> str:
    """The first English term of a concept (its name in a reason)."""
    return next((t for t in groups()[concept] if not has_han(t)), groups()[concept][0])


def translations(text: str) -> list[str]:
    """Terms of the other language for the concepts the text names: what a query in one
    language adds so that it finds documents written in the other."""
    chinese = has_han(text)
    out: list[str] = []
    for concept in sorted(concepts_in(text)):
        for term in terms_of(concept):
            if has_han(term) != chinese:
                out.append(term)
                break
    return out
