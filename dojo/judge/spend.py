"""Token prices and the per-run spend cap.

Cost is counted from each response's ``usage``: uncached input, cache writes,
cache reads and output tokens, each at its own price. Concurrent requests
already in flight when the cap is reached still complete, so a run can end
above the cap by at most ``concurrency`` calls' cost.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dojo.judge.result import TokenUsage


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0, description="5-minute cache writes")
    cache_read: float = Field(ge=0)

    def cost(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_creation_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
    ) -> float:
        per_token = (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_creation_input_tokens * self.cache_write
            + cache_read_input_tokens * self.cache_read
        )
        return per_token / 1_000_000


# Published list prices (platform.claude.com model pages), checked when this was written.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-5-5": Price(input=4.0, output=20.0, cache_write=5.0, cache_read=0.20),
    "claude-opus-5": Price(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-sonnet-5": Price(input=2.0, output=10.0, cache_write=2.50, cache_read=0.20),
    "claude-haiku-4-5": Price(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
}


class SpendMeter:
    """Adds up what the run has spent and says when the cap is reached."""

    def __init__(self, cap_usd: float, price: Price) -> None:
        self.cap_usd = cap_usd
        self._price = price
        self._total = TokenUsage()

    @property
    def spent_usd(self) -> float:
        return self._total.cost_usd

    @property
    def total(self) -> TokenUsage:
        return self._total

    @property
    def exhausted(self) -> bool:
        return self._total.cost_usd >= self.cap_usd

    def record(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_creation_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
    ) -> TokenUsage:
        """Count one call's usage; returns it with its cost."""
        usage = TokenUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_creation_input_tokens=cache_creation_input_tokens,
            cache_read_input_tokens=cache_read_input_tokens,
            cost_usd=self._price.cost(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_creation_input_tokens=cache_creation_input_tokens,
                cache_read_input_tokens=cache_read_input_tokens,
            ),
        )
        self._total = self._total + usage
        return usage
