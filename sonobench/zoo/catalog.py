"""The explicit list of registered architectures (data only).

Paper models are written in this package and keep their reference
implementation's default configuration, so that with in_channels=1,
num_classes=1 their parameter counts match the breast-ultrasound benchmark
table of seed 002 (Awesome-BUS). Models from segmentation-models-pytorch are
built with encoder_weights=None.
"""
from __future__ import annotations

from sonobench.zoo.anatosegnet import AnatoSegNet
from sonobench.zoo.cmunet import CMUNet, CMUNeXt
from sonobench.zoo.registry import Family, register
from sonobench.zoo.smp_models import smp_model
from sonobench.zoo.swinunet import SwinUNet
from sonobench.zoo.transunet import TransUNet
from sonobench.zoo.unet import AttentionUNet, UNet
from sonobench.zoo.unet3plus import UNet3Plus
from sonobench.zoo.unetpp import UNetPlusPlus
from sonobench.zoo.unext import UNeXt

U_WIDTHS = [64, 128, 256, 512, 1024]

register("unet", UNet, family=Family.CNN, defaults={"widths": U_WIDTHS},
         reference="Ronneberger et al., U-Net, MICCAI 2015 (arXiv:1505.04597); configuration "
                   "of LeeJunHyun/Image_Segmentation as used by FengheTan9/"
                   "Medical-Image-Segmentation-Benchmarks (nearest x2 + 3x3 conv up-sampling)")
register("attunet", AttentionUNet, family=Family.CNN, defaults={"widths": U_WIDTHS},
         reference="Oktay et al., Attention U-Net, MIDL 2018 (arXiv:1804.03999); configuration "
                   "of LeeJunHyun/Image_Segmentation AttU_Net")
register("unetpp", UNetPlusPlus, family=Family.CNN,
         defaults={"decoder_widths": [64, 64, 128, 256]},
         reference="Zhou et al., UNet++, DLMIA 2018 (arXiv:1807.10165); ResNet-34 UNet++ of "
                   "FengheTan9/Medical-Image-Segmentation-Benchmarks")
register("unet3plus", UNet3Plus, family=Family.CNN,
         defaults={"widths": U_WIDTHS, "cat_channels": 64},
         reference="Huang et al., UNet 3+, ICASSP 2020 (arXiv:2004.08790); "
                   "ZJUGiveLab/UNet-Version UNet_3Plus")
register("unext", UNeXt, family=Family.HYBRID,
         defaults={"dims": [16, 32, 128, 160, 256], "shift_size": 5},
         reference="Valanarasu & Patel, UNeXt, MICCAI 2022 (arXiv:2203.04967); "
                   "jeya-maria-jose/UNeXt-pytorch UNext")
register("cmunet", CMUNet, family=Family.CNN,
         defaults={"mixer_depth": 7, "mixer_kernel": 7, "widths": U_WIDTHS},
         reference="Tang et al., CMU-Net, ISBI 2023 (arXiv:2210.13012); FengheTan9/CMU-Net")
register("cmunext", CMUNeXt, family=Family.CNN,
         defaults={"dims": [16, 32, 128, 160, 256], "depths": [1, 1, 1, 3, 1],
                   "kernels": [3, 3, 7, 7, 7]},
         reference="Tang et al., CMUNeXt, ISBI 2024 (arXiv:2308.01239); FengheTan9/CMUNeXt")
register("anatosegnet", AnatoSegNet, family=Family.HYBRID, defaults={"heads": 8, "beta": 2.0, "gamma": 1.0},
         reference="Huang et al., AnatoSegNet: anatomy-based CNN-transformer network for breast ultrasound "
                   "segmentation, ISBI 2025; kuanhuang0624/AnatoSegNet UResNetWithAttention (ResNet-50 "
                   "without its unused 1,000-class fc: 92,857,217 params at in_channels 3, one class)")
register("transunet", TransUNet, family=Family.HYBRID, size_arg="img_size",
         defaults={"img_size": 256, "hidden": 768, "layers": 12, "heads": 12, "mlp_dim": 3072,
                   "resnet_units": [3, 4, 9], "n_skip": 3, "decoder_channels": [256, 128, 64, 16],
                   "dropout": 0.1},
         reference="Chen et al., TransUNet, arXiv:2102.04306 (2021); Beckschen/TransUNet "
                   "R50-ViT-B_16, n_skip 3, 256 x 256 as in Medical-Image-Segmentation-Benchmarks")
register("swin-unet", SwinUNet, family=Family.TRANSFORMER, size_arg="img_size",
         defaults={"img_size": 256, "patch_size": 4, "embed_dim": 96, "depths": [2, 2, 2, 2],
                   "heads": [3, 6, 12, 24], "window_size": 8, "mlp_ratio": 4.0,
                   "drop_path_rate": 0.2},
         reference="Cao et al., Swin-Unet, ECCV 2022 Workshops (arXiv:2105.05537); "
                   "HuCaoFighting/Swin-Unet swin_tiny_patch4_window7_224_lite, window 8 "
                   "instead of 7 so that 256 x 256 tiles into windows")

register("deeplabv3plus-r50", smp_model, family=Family.CNN,
         defaults={"arch": "DeepLabV3Plus", "encoder_name": "resnet50"},
         reference="Chen et al., DeepLabV3+, ECCV 2018 (arXiv:1802.02611); "
                   "segmentation-models-pytorch DeepLabV3Plus, ResNet-50 encoder (seed 001)")
register("fpn-r34", smp_model, family=Family.CNN,
         defaults={"arch": "FPN", "encoder_name": "resnet34"},
         reference="Lin et al., FPN, CVPR 2017 (arXiv:1612.03144); segmentation-models-pytorch "
                   "FPN, ResNet-34 encoder, as in UltraBones100k (seed 003)")
register("segformer-b0", smp_model, family=Family.TRANSFORMER,
         defaults={"arch": "Segformer", "encoder_name": "mit_b0"},
         reference="Xie et al., SegFormer, NeurIPS 2021 (arXiv:2105.15203); "
                   "segmentation-models-pytorch Segformer, mit_b0 encoder, as in PhyUS-Net (seed 000)")
register("unet-r34", smp_model, family=Family.CNN,
         defaults={"arch": "Unet", "encoder_name": "resnet34"},
         reference="Ronneberger et al., U-Net, MICCAI 2015; segmentation-models-pytorch Unet, "
                   "ResNet-34 encoder")
