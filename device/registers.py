"""Register maps of the MPU-6050 and the ADS1115 as data: addresses, bit fields and the
tables that give each setting its physics (full scale, LSB, data rate). Sources are in
shared/reference/hardware.md (InvenSense RM-MPU-6000A rev 4.2, TI SBAS444)."""

from __future__ import annotations

import math
from dataclasses import dataclass

STANDARD_GRAVITY_M_S2 = 9.80665


@dataclass(frozen=True)
class Field:
    """A bit field inside one 8- or 16-bit register: ``width`` bits starting at ``shift``."""

    register: int
    shift: int
    width: int = 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    def encode(self, value: int) -> int:
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"value {value} does not fit in {self.width} bits")
        return value << self.shift

    def decode(self, register_value: int) -> int:
        return (register_value & self.mask) >> self.shift


class MPU6050Reg:
    """MPU-6050 register addresses ([RM] rev 4.2)."""

    SMPLRT_DIV = 0x19
    CONFIG = 0x1A
    GYRO_CONFIG = 0x1B
    ACCEL_CONFIG = 0x1C
    FIFO_EN = 0x23
    INT_PIN_CFG = 0x37
    INT_ENABLE = 0x38
    INT_STATUS = 0x3A
    ACCEL_XOUT_H = 0x3B
    TEMP_OUT_H = 0x41
    GYRO_XOUT_H = 0x43
    USER_CTRL = 0x6A
    PWR_MGMT_1 = 0x6B
    PWR_MGMT_2 = 0x6C
    FIFO_COUNTH = 0x72
    FIFO_COUNTL = 0x73
    FIFO_R_W = 0x74
    WHO_AM_I = 0x75


class MPU6050Bits:
    """Bits and fields of the MPU-6050 registers."""

    # PWR_MGMT_1
    DEVICE_RESET = 0x80
    SLEEP = 0x40
    CLKSEL = Field(MPU6050Reg.PWR_MGMT_1, 0, 3)
    CLKSEL_PLL_XGYRO = 1
    # CONFIG / GYRO_CONFIG / ACCEL_CONFIG
    DLPF_CFG = Field(MPU6050Reg.CONFIG, 0, 3)
    FS_SEL = Field(MPU6050Reg.GYRO_CONFIG, 3, 2)
    AFS_SEL = Field(MPU6050Reg.ACCEL_CONFIG, 3, 2)
    # FIFO_EN
    TEMP_FIFO_EN = 0x80
    XG_FIFO_EN = 0x40
    YG_FIFO_EN = 0x20
    ZG_FIFO_EN = 0x10
    ACCEL_FIFO_EN = 0x08
    # USER_CTRL
    USER_FIFO_EN = 0x40
    FIFO_RESET = 0x04
    # INT_ENABLE / INT_STATUS
    FIFO_OFLOW = 0x10
    DATA_RDY = 0x01


MPU6050_WHO_AM_I = 0x68
MPU6050_CLONE_IDS = {0x70: "MPU-6500", 0x72: "MPU-6050 clone", 0x98: "MPU-6050A clone"}
MPU6050_FIFO_SIZE_B = 1024
MPU6050_RESET_TIME_S = 0.100  # Linux INV_MPU6050_POWER_UP_TIME
MPU6050_RESET_VALUES = {MPU6050Reg.PWR_MGMT_1: 0x40, MPU6050Reg.WHO_AM_I: 0x68}

# FS_SEL value -> (range in deg/s, LSB per deg/s)
GYRO_RANGES_DPS = {250: (0, 131.0), 500: (1, 65.5), 1000: (2, 32.8), 2000: (3, 16.4)}
# AFS_SEL value -> (range in g, LSB per g)
ACCEL_RANGES_G = {2: (0, 16384.0), 4: (1, 8192.0), 8: (2, 4096.0), 16: (3, 2048.0)}
# DLPF_CFG -> gyro bandwidth Hz ([RM] 4.3); 0 and 7 run the gyro at 8 kHz, the rest at 1 kHz
DLPF_GYRO_BW_HZ = {0: 256, 1: 188, 2: 98, 3: 42, 4: 20, 5: 10, 6: 5}


def gyro_output_rate_hz(dlpf_cfg: int) -> float:
    """Gyroscope output rate in Hz for a DLPF_CFG value ([RM] 4.2)."""
    return 8000.0 if dlpf_cfg in (0, 7) else 1000.0


def gyro_rad_s_per_lsb(range_dps: int) -> float:
    return math.radians(1.0) / GYRO_RANGES_DPS[range_dps][1]


def accel_m_s2_per_lsb(range_g: int) -> float:
    return STANDARD_GRAVITY_M_S2 / ACCEL_RANGES_G[range_g][1]


class ADS1115Reg:
    """ADS1115 pointer register values (TI SBAS444)."""

    CONVERSION = 0x00
    CONFIG = 0x01
    LO_THRESH = 0x02
    HI_THRESH = 0x03


class ADS1115Bits:
    """Fields of the 16-bit ADS1115 config register."""

    OS = Field(ADS1115Reg.CONFIG, 15, 1)
    MUX = Field(ADS1115Reg.CONFIG, 12, 3)
    PGA = Field(ADS1115Reg.CONFIG, 9, 3)
    MODE = Field(ADS1115Reg.CONFIG, 8, 1)
    DR = Field(ADS1115Reg.CONFIG, 5, 3)
    COMP_MODE = Field(ADS1115Reg.CONFIG, 4, 1)
    COMP_POL = Field(ADS1115Reg.CONFIG, 3, 1)
    COMP_LAT = Field(ADS1115Reg.CONFIG, 2, 1)
    COMP_QUE = Field(ADS1115Reg.CONFIG, 0, 2)
    MODE_CONTINUOUS = 0
    MODE_SINGLE = 1
    COMP_QUE_DISABLE = 3
    MUX_SINGLE_ENDED = 4  # 100 = AIN0-GND; AINn-GND is 4 + n


ADS1115_CONFIG_RESET = 0x8583
ADS1115_RESET_VALUES = {
    ADS1115Reg.CONVERSION: 0x0000,
    ADS1115Reg.CONFIG: ADS1115_CONFIG_RESET,
    ADS1115Reg.LO_THRESH: 0x8000,
    ADS1115Reg.HI_THRESH: 0x7FFF,
}
# PGA value -> full scale volts
ADS1115_PGA_V = {0: 6.144, 1: 4.096, 2: 2.048, 3: 1.024, 4: 0.512, 5: 0.256, 6: 0.256, 7: 0.256}
# DR value -> samples per second
ADS1115_DR_SPS = {0: 8, 1: 16, 2: 32, 3: 64, 4: 128, 5: 250, 6: 475, 7: 860}


def pga_code(full_scale_v: float) -> int:
    for code, volts in ADS1115_PGA_V.items():
        if math.isclose(volts, full_scale_v):
            return code
    raise ValueError(f"ADS1115 full scale must be one of {sorted(set(ADS1115_PGA_V.values()))} V")


def dr_code(data_rate_sps: int) -> int:
    for code, sps in ADS1115_DR_SPS.items():
        if sps == data_rate_sps:
            return code
    raise ValueError(f"ADS1115 data rate must be one of {sorted(ADS1115_DR_SPS.values())} SPS")
