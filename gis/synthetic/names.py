"""Made-up Chinese names for the synthetic city's roads, compounds, buildings, rivers and railways.

Drawn once per city from shuffled lists, so that a seed gives the same names; numbered (二, 十一)
when a large city runs out of them.
"""

from __future__ import annotations

import numpy as np

from gis.synthetic.plan import FOOTWAY, PRIMARY, RESIDENTIAL, SERVICE

_MAIN_ROOTS = (
    "中山 建设 解放 人民 和平 长江 黄河 珠江 汉中 北京 上海 广州 中华 青年 胜利 友谊 新华 光明 文化 学府 "
    "科技 工业 东风 红旗 华山 泰山 庐山 紫金 玄武 秦淮 鼓楼 凤凰 莫愁 清凉 石城 龙江 江东 汉江 虎踞 龙蟠 "
    "太平 洪武 集庆 升州 应天 定淮 湖南 云南 江苏 浙江 安徽 福建 湖北 四川 天津 重庆 西安 长白 昆仑 天山"
).split()
_MINOR_CHARS = "丰和安平永长福兴文德仁义顺康泰华宁明新庆乐善美清正富裕春秋金玉桂兰竹松柏梅荷莲桃李杏云"
_COMPOUND_ROOTS = (
    "幸福 阳光 金色 翠竹 康乐 和谐 锦绣 碧水 蓝天 春晖 明珠 怡景 香榭 兰亭 枫林 银杏 紫荆 梧桐 清华 瑞景 "
    "万家 华侨 朝阳 东方 南湖 北苑 丽景 御景 天润 龙湖 金陵 玉兰 桂花 海棠 百合 嘉和 文昌 书香 映月 听涛 "
    "翠屏 望江 滨江 锦江 新城 世纪 时代 盛世 祥和 安居 乐居 宜家 恒大 万科 保利 绿地 华润 中海 招商 融侨"
).split()
_COMPOUND_SUFFIXES = ("小区", "花园", "新村", "家园", "苑", "公寓", "华庭", "雅居", "名苑", "佳园")
RIVER_NAMES = ("青溪河", "运粮河", "金川河", "护城河", "惠民河", "秦淮新河", "玉带河", "清水河")
RAILWAY_NAMES = ("城际铁路", "沿江铁路", "宁芜铁路", "沪汉铁路", "北环铁路")
_CN_DIGITS = "零一二三四五六七八九十"


def _cn_number(n: int) -> str:
    """Chinese numeral for 1..99 (二, 十一, 二十三)."""
    if n <= 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return (_CN_DIGITS[tens] if tens > 1 else "") + "十" + (_CN_DIGITS[ones] if ones else "")


class Names:
    """Deterministic Chinese names for roads, compounds and facilities."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._main = [_MAIN_ROOTS[i] for i in rng.permutation(len(_MAIN_ROOTS))]
        chars = list(_MINOR_CHARS)
        pairs = [a + b for a in chars for b in chars if a != b]
        self._minor = [pairs[i] for i in rng.permutation(len(pairs))]
        combos = [r + s for r in _COMPOUND_ROOTS for s in _COMPOUND_SUFFIXES]
        self._compound = [combos[i] for i in rng.permutation(len(combos))]
        self._roots = [_COMPOUND_ROOTS[i] for i in rng.permutation(len(_COMPOUND_ROOTS))]
        self._n_main = self._n_minor = self._n_compound = self._n_root = 0

    def main_road(self, highway: int) -> str:
        i = self._n_main
        self._n_main += 1
        root = self._main[i % len(self._main)]
        if i >= len(self._main):
            root += _cn_number(i // len(self._main) + 1)
        return root + ("大道" if highway == PRIMARY and i % 3 == 0 else "路")

    def minor_road(self, highway: int) -> str:
        i = self._n_minor
        self._n_minor += 1
        root = self._minor[i % len(self._minor)]
        if i >= len(self._minor):
            root += _cn_number(i // len(self._minor) % 99 + 1)
        suffix = {RESIDENTIAL: ("街", "路"), SERVICE: ("巷", "里"), FOOTWAY: ("巷", "弄")}[highway]
        return root + suffix[i % 2]

    def compound(self) -> str:
        i = self._n_compound
        self._n_compound += 1
        base = self._compound[i % len(self._compound)]
        phase = i // len(self._compound)
        return base if phase == 0 else f"{base}{_cn_number(phase % 99 + 1)}期"

    def root(self) -> str:
        i = self._n_root
        self._n_root += 1
        return self._roots[i % len(self._roots)]
